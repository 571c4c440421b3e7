/**
 * A small command-line parser in the shape of node:util's `parseArgs`
 * (strict, with positionals). Importing node:util costs about 30 ms of CPU
 * at start-up, more than the rest of `hark send` together; this costs none.
 */

import { UsageError } from "../errors.ts";

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
}

export type OptionSpecs = Record<string, OptionSpec>;

export interface ParsedArgs {
  // deno-lint-ignore no-explicit-any
  values: Record<string, any>;
  positionals: string[];
}

/** Parses `args`; unknown options and missing values throw `UsageError`. */
export function parseArgs(args: string[], options: OptionSpecs): ParsedArgs {
  const values: ParsedArgs["values"] = {};
  const positionals: string[] = [];
  const byShort = new Map(
    Object.entries(options).filter(([, spec]) => spec.short).map(([name, spec]) => [spec.short!, name]),
  );
  const set = (name: string, spec: OptionSpec, value: string | boolean) => {
    if (spec.multiple) (values[name] ??= []).push(value);
    else values[name] = value;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const long = arg.startsWith("--");
    const equals = long ? arg.indexOf("=") : -1;
    const key = long ? arg.slice(2, equals === -1 ? undefined : equals) : arg.slice(1);
    const name = long ? key : byShort.get(key);
    const spec = name === undefined ? undefined : options[name];
    if (name === undefined || !spec || (!long && key.length !== 1)) {
      throw new UsageError(`Unknown option '${arg.split("=")[0]}'`);
    }
    if (spec.type === "boolean") {
      if (equals !== -1) throw new UsageError(`Option '--${name}' does not take a value`);
      set(name, spec, true);
      continue;
    }
    let value: string | undefined;
    if (equals !== -1) value = arg.slice(equals + 1);
    else if (i + 1 < args.length) value = args[++i];
    if (value === undefined) throw new UsageError(`Option '${arg}' needs a value`);
    set(name, spec, value);
  }
  return { values, positionals };
}
