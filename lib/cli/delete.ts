/** `hark delete KEY|ID`: the deletion twin of `hark ack` (./ack.ts). */

import { lifecycleCommand } from "./ack.ts";

export const deleteCommand = lifecycleCommand(
  "delete",
  "delete",
  "Deletes",
  "its popups close and ntfy subscribers get message_delete",
);
