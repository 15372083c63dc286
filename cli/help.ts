/**
 * @module cli/help
 * The help texts: `fnrun --help` and `fnrun COMMAND --help`.
 */

export const MAIN_HELP = `fnrun — serverless functions on your own machine, in real runc containers

Usage: fnrun COMMAND [options]

Commands:
  up                 run the daemon in the foreground: deploy config.toml's functions, serve them
  deploy DIR...      build and deploy function folders (or folders of function folders)
  build DIR          build a function's image without deploying it (--dockerfile prints the Dockerfile)
  ls                 list deployed functions and their instances
  rm NAME            stop serving a function and remove its containers
  invoke NAME        call a function once, through the daemon
  logs NAME          print a function's log (stdout and stderr of its instances)

Options for every command:
  --config PATH      config.toml to use (default ./config.toml); the daemon's socket is found from it
  --json             machine-readable output
  -h, --help         help for a command

Run \`fnrun COMMAND --help\` for the options of one command.
`;

export const COMMAND_HELP: Record<string, string> = {
  up: `Usage: fnrun up [--config PATH] [--listen HOST:PORT]

Runs the fnrun daemon in the foreground. It loads and validates config.toml (every problem at
once), removes containers a killed earlier run left behind, builds the base image on first use,
deploys every function config.toml lists (and those deployed with \`fnrun deploy\` before), and
serves them on [gateway] listen. The control API listens on <state_dir>/fnrun.sock (mode 0600).
Ctrl-C (SIGINT) or SIGTERM stops every container and leaves nothing behind.

  --listen HOST:PORT  override [gateway] listen
`,
  deploy: `Usage: fnrun deploy DIR... [--config PATH] [--json]

Builds each function folder into an image and makes it the serving revision. DIR is a function
folder (with index.ts, index.js or index.mjs) or a folder of function folders; each function is
named after its folder. Settings come from config.toml when it names that folder, defaults
otherwise. The new revision is started before it takes traffic; the old one drains, so a
redeploy fails no request. A build error names the file and line, and nothing is deployed.
`,
  build: `Usage: fnrun build DIR [--dockerfile] [--config PATH] [--json]

Builds a function's image into the daemon's image store without deploying it.
  --dockerfile   print the generated Dockerfile (it is also saved in the build context)
`,
  ls: `Usage: fnrun ls [--config PATH] [--json]

Lists deployed functions: revision, routes, instances (busy/idle/starting) and queued requests.
`,
  rm: `Usage: fnrun rm NAME [--config PATH] [--json]

Stops serving NAME: its routes go away, its containers are stopped and removed.
`,
  invoke: `Usage: fnrun invoke NAME [--data DATA] [--path /PATH] [--method METHOD] [-H "Name: value"]...

Calls the function once through the daemon and prints its answer's body. Without --path the
function sees /NAME. The exit code is 0 for a 2xx answer, 1 otherwise.
  -d, --data DATA     request body; @FILE reads a file, - reads standard input (method becomes POST)
  -p, --path PATH     the path and query the function sees
  -X, --method M      HTTP method (default GET, or POST with --data)
  -H, --header H      a request header, "Name: value"; repeatable
  -i, --include       print the status line and headers before the body
`,
  logs: `Usage: fnrun logs NAME [--tail N] [--config PATH]

Prints the last N lines (default 200) of what the function's instances wrote to stdout and stderr.
`,
};
