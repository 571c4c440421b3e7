/** The simulator's one table: a figure, its value and unit, and how it was measured. */

export interface Row {
  figure: string;
  value: number | string;
  unit: string;
  note?: string;
}

function show(value: number | string): string {
  if (typeof value === "string") return value;
  if (!Number.isFinite(value)) return "–";
  if (Math.abs(value) >= 100 || Number.isInteger(value)) return String(Math.round(value));
  return value.toPrecision(3);
}

export function renderTable(rows: Row[]): string {
  const cells = rows.map((row) => [row.figure, show(row.value), row.unit, row.note ?? ""]);
  const header = ["figure", "value", "unit", "how"];
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((cell) => cell[column].length)));
  const line = (cell: string[]) => `| ${cell.map((text, column) => text.padEnd(widths[column])).join(" | ")} |`;
  return [line(header), `| ${widths.map((width) => "-".repeat(width)).join(" | ")} |`, ...cells.map(line)].join("\n");
}
