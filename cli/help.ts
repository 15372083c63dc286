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
  push NAME REF      push a function's (or a stored) image to a registry (--all PREFIX: every function)
  export k8s         write Kubernetes manifests for the deployed functions (--registry, -o DIR)
  pull REF           pull an image from a registry into the store, verified against its digests
  images [prune]     list stored images (size, functions using them); prune what nothing uses
  image save NAME    write an image as a docker-load (or OCI, --format oci) archive: -o FILE
  run REF [-- CMD]   run a one-off container from any image, with a function's isolation and limits
  ps                 list every container: function instances, stem cells, one-offs
  reload             re-read config.toml and redeploy what changed (also on SIGHUP to \`fnrun up\`)
  invoke NAME        call a function once, through the daemon
  jobs [run NAME]    list scheduled jobs with their last and next run; run one now
  logs NAME          print or follow a function's log, by time or invocation (-f, --since, --invocation)
  dev [DIR]          deploy function folders and redeploy each one when a file of it is saved
  secret ACTION      set, list (keys only) or remove a function's secrets (env, never in images)
  metrics            print the daemon's Prometheus metrics (also GET /metrics on the control API)
  console            serve the web console on a loopback port and print its URL (with a token)

Options for every command:
  --config PATH      config.toml to use (default ./config.toml); the daemon's socket is found from it
  --host URL         talk to a daemon's TCP control listener ([control] listen), e.g.
                     http://10.0.0.5:7070, instead of the local socket (env FNRUN_HOST)
  --token-file FILE  the bearer token for --host (env FNRUN_TOKEN_FILE, or the token in FNRUN_TOKEN)
  --json             machine-readable output (errors too: one JSON object on stderr)
  -h, --help         help for a command

Run \`fnrun COMMAND --help\` for the options of one command.
`;

export const COMMAND_HELP: Record<string, string> = {
  up: `Usage: fnrun up [--config PATH] [--listen HOST:PORT]

Runs the fnrun daemon in the foreground. It loads and validates config.toml (every problem at
once), removes containers a killed earlier run left behind, builds the base image on first use,
deploys every function config.toml lists (and those deployed with \`fnrun deploy\` before), and
serves them on [gateway] listen. The control API listens on <state_dir>/fnrun.sock (mode 0600),
and also on [control] listen (TCP, bearer token from [control] token_file) when that is set.
Ctrl-C (SIGINT) or SIGTERM stops every container and leaves nothing behind.

  --listen HOST:PORT  override [gateway] listen
`,
  deploy: `Usage: fnrun deploy DIR... [--config PATH] [--json]
       fnrun deploy --image REF [--name NAME] [--insecure] [--username USER --password-stdin]

Builds each function folder into an image and makes it the serving revision. DIR is a function
folder (with index.ts, index.js or index.mjs) or a folder of function folders; each function is
named after its folder. Settings come from config.toml when it names that folder, defaults
otherwise. The new revision is started before it takes traffic; the old one drains, so a
redeploy fails no request. A build error names the file and line, and nothing is deployed.
Each step (bundle, image, start) is printed with its time as it finishes: redrawn in place on a
terminal, one plain line each otherwise.
  --json   only a JSON array of the results (name, revision, image, routes, timings, or error)

With --image, deploys a function image (made by \`fnrun build\`, e.g. pushed from another
machine) instead of a folder: pulled first when REF names a registry, else taken from the store.
NAME defaults to the last part of the repository; config.toml's [functions.NAME] settings apply.
`,
  build: `Usage: fnrun build DIR [--dockerfile] [--config PATH] [--json]

Builds a function's image into the daemon's image store without deploying it.
  --dockerfile   print the generated Dockerfile (it is also saved in the build context)
`,
  ls: `Usage: fnrun ls [--config PATH] [--json]

Lists deployed functions: revision, routes, instances (busy/idle/starting) and queued requests.
`,
  reload: `Usage: fnrun reload [--config PATH] [--json]

Asks the running daemon to re-read its config.toml (as SIGHUP to \`fnrun up\` does) and to
redeploy the functions that are new or whose settings changed; functions config.toml no longer
names are removed. A config with errors changes nothing: every problem is printed and the daemon
keeps serving the config it had. A function whose redeploy fails keeps its old revision serving.
Changes to [gateway], [daemon], [control], [pool] and [defaults] (for stem cells) need a restart.
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
  jobs: `Usage: fnrun jobs [run NAME | show NAME] [--config PATH] [--json]

Scheduled jobs: functions with schedule = "CRON" in config.toml, whose scheduled(event, env, ctx)
the daemon calls on time, in the function's warm pool.
  fnrun jobs            each job's schedule, last run (when, outcome) and next run
  fnrun jobs run NAME   run the job now and wait for it; prints its outcome and log lines
                        (exit code 0 when scheduled() resolved, 1 otherwise; refused while a run
                        is going under overlap = "forbid")
  fnrun jobs show NAME  the job's recent runs (at most 50): start, trigger, outcome, duration
`,
  logs: `Usage: fnrun logs NAME [-f] [--since 10m] [--invocation ID] [--tail N] [--config PATH] [--json]

Prints what the function's instances wrote to stdout and stderr, one stored line each:
  <ISO time> <instance> <stream> [inv=<invocation id>] <text>
Lines written while serving a request carry its invocation id (the function gets it as
ctx.invocationId), also when one instance serves several requests at once. The log is kept
outside the containers, bounded per function (10 MiB, then moved to <name>.log.1; the new file
says so). Without --since or --invocation: the last 200 lines.
  -f, --follow         keep printing new lines as they are written (Ctrl-C to stop)
  --since T            lines from the last T (10m, 1h, 30s, 2d) or since an ISO date
  --invocation ID      only the lines of one invocation (and the daemon's notes about it)
  --tail N             at most the last N matching lines
  --json               one JSON object a line: time, instance, stream, invocation, text
`,
  dev: `Usage: fnrun dev [DIR] [--config PATH] [--json]

Deploys each function folder under DIR (default ./functions; DIR may also be one function
folder) to the running daemon, then watches them: saving a file redeploys its function and
prints the steps, the routes and what a GET of its first plain route answers. A save that
breaks the build prints the error with file and line, and the last good revision keeps
serving. Ctrl-C stops watching (the functions stay deployed).
  --json   one JSON object per deploy result
`,
  secret: `Usage: fnrun secret set NAME KEY      (the value is read from standard input)
       fnrun secret ls NAME
       fnrun secret rm NAME KEY

Secrets are env variables of a function kept out of its image, its config and every output:
stored in <state_dir>/secrets/NAME.json (mode 0600) and given to each instance at start.
Setting or removing one redeploys the function when it is deployed (its new instances have the
new value; the old ones finish their requests); otherwise it applies at its next deploy. \`ls\`
prints keys only. A secret overrides an env key of the same name from config.toml.
  echo -n "$TOKEN" | fnrun secret set api API_TOKEN
`,
  console: `Usage: fnrun console [--port N] [--config PATH | --host URL --token-file FILE] [--json]

Serves the daemon's web console on http://127.0.0.1 (a free port, or --port N) and prints its
URL: functions with their instances and memory, stem cells and the memory budget, recent
invocations with their phase timings, a live log tail, jobs with a Run now button, the deploy
history. It proxies to the daemon's control API (the unix socket, or --host with its token).
The URL carries a token made for this run in its fragment (#token=…, never sent to a server);
the page keeps it in the tab's sessionStorage and sends it as Authorization: Bearer. Without it
the port serves the login prompt and no data. Ctrl-C stops it.
  --port N   listen on this port instead of a free one
  --json     print {"url": …} instead of the URL
`,
  metrics: `Usage: fnrun metrics [--config PATH] [--json]

Prints the daemon's metrics in the Prometheus text format, as GET /metrics on the control socket
(and on [control] listen, with the token) serves them to a scraper: invocations by function and
status, durations, starts by kind (warm, stem, cold) with phase timings, instances and stem
cells by state, 429/503 rejections, timeouts, OOM kills, deploy step times. Never served on the
public gateway.
`,
  push: `Usage: fnrun push NAME REF [--insecure] [--username USER --password-stdin]
       fnrun push --all HOST[:PORT]/PREFIX [--insecure] [--username USER --password-stdin] [--json]

Pushes the image of function NAME (or the stored image NAME: a tag or sha256 digest) to REF,
HOST[:PORT]/REPOSITORY[:TAG], over the OCI distribution API. Blobs the registry already has are
skipped; large layers go in chunks. The manifest is sent byte for byte: the digest stays.
With --all, pushes every deployed function's image to PREFIX/NAME:REVISION and prints each
one's reference and digest: the digests \`fnrun export k8s --registry PREFIX\` references.
  --all               every deployed function, to HOST[:PORT]/PREFIX
  --insecure          plain HTTP, for a registry on 127.0.0.1, ::1 or localhost only
  --username USER     log in (Basic, or Bearer through the registry's token service); the
  --password-stdin    password is read from standard input
`,
  export: `Usage: fnrun export k8s --registry HOST[:PORT]/PREFIX [-o DIR] [--routes ingress|httproute]
                        [--knative] [-n NAMESPACE] [--hostname HOST] [--ingress-class NAME]
                        [--gateway [NS/]NAME] [--user-namespaces] [--json]

Writes Kubernetes objects for every deployed function, from config.toml's settings and the
deployed revisions' images: per function a Deployment (image by digest, requests = limits from
memory and cpu, env, secrets from a Secret, probes on /__fnrun/health, a read-only rootfs, no
capabilities, seccomp RuntimeDefault), a Service, a HorizontalPodAutoscaler from
min/max_instances, and a CronJob for a schedule (timeZone, concurrencyPolicy from overlap).
A function with a schedule and routes = [] gets only its CronJob. Images are
REGISTRY/PREFIX/NAME@sha256:…: push them first with \`fnrun push --all\` to the same PREFIX.
Secret values never leave the daemon: each Secret is a template to fill in (written with -o).
  --registry R          where the images are: HOST[:PORT]/PREFIX (required)
  -o, --output DIR      one YAML file per function, ingress.yaml, secrets/NAME-secrets.yaml
                        (0600, kept if present); files of functions no longer deployed are
                        removed. Without -o: every manifest (no secrets) on stdout
  --routes R            ingress (default: one Ingress, paths only) or httproute (Gateway API,
                        with methods and :param segments)
  --knative             Knative Serving Services instead (scale to zero, containerConcurrency
                        from concurrency, min/max-scale from min/max_instances)
  -n, --namespace NS    set metadata.namespace (default: kubectl's current namespace)
  --hostname HOST       the host the Ingress rule or HTTPRoute matches (default: any)
  --ingress-class NAME  the Ingress's ingressClassName (default: the cluster's default class)
  --gateway [NS/]NAME   the Gateway the HTTPRoutes attach to (default fnrun)
  --user-namespaces     hostUsers: false (a user namespace per pod; needs node support)
  --json                the objects as JSON, grouped by file
`,
  pull: `Usage: fnrun pull REF [--insecure] [--username USER --password-stdin]

Pulls REF (HOST[:PORT]/REPOSITORY[:TAG] or ...@sha256:DIGEST) into the daemon's store, tagged
by REF. Every manifest and blob is checked against its digest and size; a mismatch is refused
with the digest named, and nothing of it is kept. An index picks linux on this architecture.
`,
  images: `Usage: fnrun images [--json]
       fnrun images prune [--revisions]

Lists the stored images with their size (compressed) and the functions using them.
prune removes the blobs and unpacked rootfs that no tag, no deployed function, no stem cell
and no running container needs; --revisions also untags old function revisions (fn/NAME:REV)
that nothing serves.
`,
  image: `Usage: fnrun image save NAME -o FILE [--format docker|oci]

Writes the image of function NAME (or the stored image NAME) to FILE.
  -o, --output FILE the archive to write (a temp file beside it is renamed when complete)
  --format docker   (default) what \`docker load -i FILE\` reads: manifest.json, config, layers
                    (plus the OCI layout, as docker save writes since Docker 25)
  --format oci      an OCI image layout archive (skopeo copy oci-archive:FILE ...)
`,
  run: `Usage: fnrun run REF [--memory SIZE] [--cpus N] [--insecure] [--username USER --password-stdin] [-- CMD ARGS...]

Runs one container from REF (a stored image, or a registry reference: pulled first), like
\`docker run --rm\`, with the isolation of a function instance: read-only rootfs, user
namespace, no capabilities, seccomp, no network but loopback, a size-limited /tmp. Its stdout
and stderr stream here; fnrun exits with its exit code. CMD replaces the image's Cmd (its
Entrypoint stays). Ctrl-C stops the container. The image needs /proc, /dev, /sys and /tmp
directories (the rootfs is read-only, so runc cannot create mount points).
  --memory SIZE   memory limit, like 64MiB (default: [defaults] memory)
  --cpus N        share of cores, like 0.5 (default: [defaults] cpu)
`,
  ps: `Usage: fnrun ps [--json]

Lists every container of this daemon — function instances, stem cells, one-offs from
\`fnrun run\` — with its image, its state and its limits as the kernel enforces them.
`,
};
