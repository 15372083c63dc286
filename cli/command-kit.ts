/**
 * @module cli/command-kit
 * What every command module shares: the command type, a client that is closed afterwards,
 * and the one way a daemon's error answer becomes a CLI error.
 */
import { CliError, type ControlClient } from "./client.ts";
import type { CommandContext } from "./commands.ts";

export type Command = (ctx: CommandContext) => Promise<number>;

/** Runs `fn` with a client and closes it afterwards. */
export async function withClient<T>(ctx: CommandContext, fn: (c: ControlClient) => Promise<T>): Promise<T> {
  const client = await ctx.client();
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** Throws the daemon's own message (it names what went wrong and the fix) for an error status. */
export function failIfError(status: number, body: unknown): void {
  if (status >= 400) throw new CliError((body as { message?: string } | null)?.message ?? `daemon answered ${status}`);
}
