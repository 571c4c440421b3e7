/**
 * One readable sentence from a JSON Schema validator's error list, naming
 * the field: `data.status must be one of "ok", "failed"`.
 */

import type { OutputUnit } from "@cfworker/json-schema";

/**
 * Errors that only say "something inside did not match"; the one that says
 * what comes after them. `false` is what `additionalProperties: false`
 * reports at the extra property itself.
 */
const WRAPPERS = new Set(["properties", "items", "prefixItems", "additionalProperties", "allOf", "$ref"]);

export function describeSchemaError(errors: OutputUnit[]): string {
  const error = errors.find((e) => !WRAPPERS.has(e.keyword)) ?? errors[0];
  if (!error) return "data does not match";
  const field = fieldName(error.instanceLocation);
  const text = error.error.replace(/\.$/, "");
  switch (error.keyword) {
    case "false":
      return `${field} is not allowed`;
    case "required": {
      const property = /property "(.*)"/.exec(text)?.[1];
      return property === undefined ? `${field} lacks a required field` : `${join(field, property)} is required`;
    }
    case "type": {
      const match = /type "(\w+)" is invalid\. Expected (.*)$/.exec(error.error.replace(/\.$/, ""));
      return match ? `${field} must be ${match[2].replaceAll('"', "")}, not ${match[1]}` : `${field}: ${text}`;
    }
    case "enum": {
      const list = /any of (\[.*\])$/.exec(text)?.[1];
      return list ? `${field} must be one of ${list.slice(1, -1).replaceAll(",", ", ")}` : `${field}: ${text}`;
    }
    case "const":
      return `${field} ${text.replace(/^Instance /, "")}`;
    default:
      return `${field}: ${text.replace(/^Instance /, "it ")}`;
  }
}

/** `#/tags/1` → `data.tags[1]`. */
export function fieldName(location: string): string {
  let name = "data";
  for (const raw of location.replace(/^#\/?/, "").split("/").filter(Boolean)) {
    name = join(name, decodePointer(raw));
  }
  return name;
}

function join(base: string, key: string): string {
  if (/^\d+$/.test(key)) return `${base}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`;
}

function decodePointer(segment: string): string {
  let text = segment;
  try {
    text = decodeURIComponent(segment);
  } catch {
    // Not URI-encoded: taken as it is.
  }
  return text.replaceAll("~1", "/").replaceAll("~0", "~");
}
