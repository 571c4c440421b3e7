/** Which desktop backend the desktop sink would use here, and whether it reaches a notification service. */

import type { Finding } from "./finding.ts";
import { platformBackend } from "../../sinks/desktop/mod.ts";

export async function checkDesktop(): Promise<Finding> {
  const backend = platformBackend();
  try {
    await backend.start();
    const { ok, reason } = backend.available();
    if (ok) return { check: "desktop notifications", verdict: "ok", detail: `${backend.name}: ${reason}` };
    return {
      check: "desktop notifications",
      verdict: "warn",
      detail: `${backend.name}: ${reason}`,
      fix: desktopFix(),
    };
  } finally {
    await backend.close();
  }
}

function desktopFix(): string {
  switch (Deno.build.os) {
    case "darwin":
      return "run hark in your login session (hark service install); `brew install terminal-notifier` adds click-to-open";
    case "windows":
      return "run hark in your logon session (hark service install), with Windows PowerShell 5.1 available";
    default:
      return "run hark inside a desktop session (its DBUS_SESSION_BUS_ADDRESS) with a notification daemon (dunst, mako, GNOME, KDE); on a server, use a file, exec or webhook sink instead";
  }
}
