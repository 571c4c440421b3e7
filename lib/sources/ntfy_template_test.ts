import assert from "node:assert/strict";
import { fillTemplate, templateData } from "./ntfy_template.ts";
import { HttpFailure } from "./http_failure.ts";

Deno.test("fillTemplate() fills ntfy's field references from the JSON body", () => {
  const data = templateData('{"hostname": "phil-pc", "error": {"level": "severe", "code": 7, "tags": ["a"]}}');
  assert.equal(fillTemplate("{{.hostname}}: A {{ .error.level }} error", data), "phil-pc: A severe error");
  assert.equal(fillTemplate("{{.error.code}} {{.error.tags}} {{.missing.field}}", data), '7 ["a"] <no value>');
  assert.equal(fillTemplate("no template here", data), "no template here");
});

Deno.test("fillTemplate() refuses what is not a field reference, and templateData() a body that is not JSON", () => {
  const refuses = (fn: () => unknown, code: number, message: RegExp) =>
    assert.throws(fn, (error) => error instanceof HttpFailure && error.code === code && message.test(error.message));
  refuses(() => fillTemplate("{{if .x}}y{{end}}", {}), 40043, /field references such as \{\{\.error\.desc\}\} only/);
  refuses(() => fillTemplate("{{call .f}}", {}), 40043, /could not parse template/);
  refuses(() => templateData("not json"), 40042, /must be JSON if templating is enabled/);
});
