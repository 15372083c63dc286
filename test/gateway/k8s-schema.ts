/**
 * @module test/gateway/k8s-schema
 * Offline validation of Kubernetes objects, two ways, both from maintained packages:
 *
 * 1. kubernetes-models' `validate()`: JSON-schema validators compiled from the Kubernetes
 *    OpenAPI (and from the Knative and Gateway API CRDs): types, required fields, enums,
 *    int32/int64 bounds, maxItems. The OpenAPI schemas do not forbid unknown fields, so an
 *    object with a misspelled key passes it (the API server drops or, with
 *    fieldValidation=Strict, refuses it).
 * 2. So each object is also type-checked by the TypeScript compiler against the same
 *    packages' interfaces (IDeployment, ICronJob, …) as an object literal, where an unknown
 *    property at any depth is an error (excess property checks), and so is a wrong type.
 *
 * CEL rules (x-kubernetes-validations) are checked by neither.
 */
import path from "node:path";
import ts from "typescript";

interface ModelClass {
  new (data: unknown): { validate(): void };
}

/** apiVersion/kind → [module, export] of the kubernetes-models class and its interface. */
const KINDS: Record<string, { module: string; cls: string; iface: string }> = {
  "apps/v1/Deployment": { module: "kubernetes-models/apps/v1/Deployment", cls: "Deployment", iface: "IDeployment" },
  "v1/Service": { module: "kubernetes-models/v1/Service", cls: "Service", iface: "IService" },
  "v1/Secret": { module: "kubernetes-models/v1/Secret", cls: "Secret", iface: "ISecret" },
  "autoscaling/v2/HorizontalPodAutoscaler": { module: "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler", cls: "HorizontalPodAutoscaler", iface: "IHorizontalPodAutoscaler" },
  "networking.k8s.io/v1/Ingress": { module: "kubernetes-models/networking.k8s.io/v1/Ingress", cls: "Ingress", iface: "IIngress" },
  "batch/v1/CronJob": { module: "kubernetes-models/batch/v1/CronJob", cls: "CronJob", iface: "ICronJob" },
  "gateway.networking.k8s.io/v1/HTTPRoute": { module: "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute", cls: "HTTPRoute", iface: "IHTTPRoute" },
  "serving.knative.dev/v1/Service": { module: "@kubernetes-models/knative/serving.knative.dev/v1/Service", cls: "Service", iface: "IService" },
};

function kindOf(obj: unknown): (typeof KINDS)[string] {
  const o = obj as { apiVersion?: unknown; kind?: unknown };
  const entry = KINDS[`${o.apiVersion}/${o.kind}`];
  if (!entry) throw new Error(`no schema for apiVersion ${JSON.stringify(o.apiVersion)} kind ${JSON.stringify(o.kind)}`);
  return entry;
}

/** Throws kubernetes-models' ValidationError (or "no schema") when `obj` does not validate. */
export async function validateWithSchema(obj: unknown): Promise<void> {
  const { module, cls } = kindOf(obj);
  const mod = (await import(module)) as Record<string, ModelClass>;
  // The constructor fills apiVersion/kind from the class, but `obj`'s own win (spread last).
  new mod[cls](obj).validate();
}

const ROOT = path.resolve(import.meta.dirname, "../..");
const VIRTUAL = path.join(ROOT, "test/gateway/__k8s_typecheck__.ts");

/**
 * TypeScript's diagnostics for each object typed as its kind's interface: [] when all are
 * well-typed. Each message starts with the object's index and kind.
 */
export function typecheckObjects(objects: unknown[]): string[] {
  const aliases = new Map<string, string>(); // module → alias
  const imports: string[] = [];
  const lines: string[] = [];
  const starts: number[] = [];
  objects.forEach((obj, i) => {
    const { module, iface } = kindOf(obj);
    if (!aliases.has(module)) {
      aliases.set(module, `T${aliases.size}`);
      imports.push(`import type { ${iface} as ${aliases.get(module)} } from "${module}";`);
    }
    lines.push(`export const o${i}: ${aliases.get(module)} = ${JSON.stringify(obj, null, 1)};`);
  });
  const head = imports.join("\n") + "\n";
  let offset = head.length;
  for (const l of lines) {
    starts.push(offset);
    offset += l.length + 1;
  }
  const text = head + lines.join("\n") + "\n";
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (file, lang, ...rest) => (path.resolve(file) === VIRTUAL ? ts.createSourceFile(file, text, lang) : getSourceFile(file, lang, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (file) => path.resolve(file) === VIRTUAL || fileExists(file);
  const readFile = host.readFile.bind(host);
  host.readFile = (file) => (path.resolve(file) === VIRTUAL ? text : readFile(file));
  const program = ts.createProgram([VIRTUAL], options, host);
  const source = program.getSourceFile(VIRTUAL)!;
  return ts.getPreEmitDiagnostics(program, source).map((d) => {
    const at = d.start ?? 0;
    let index = starts.length - 1;
    while (index > 0 && starts[index] > at) index--;
    const o = objects[index] as { kind?: string; metadata?: { name?: string } };
    return `object ${index} (${o?.kind}/${o?.metadata?.name}): ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
  });
}

/** Both checks for every object; throws one error listing every failure. */
export async function assertValidObjects(objects: unknown[]): Promise<void> {
  const failures: string[] = [];
  for (const [i, o] of objects.entries()) {
    try {
      await validateWithSchema(o);
    } catch (err) {
      failures.push(`object ${i} (${(o as { kind?: string }).kind}): ${(err as Error).message}`);
    }
  }
  failures.push(...typecheckObjects(objects));
  if (failures.length > 0) throw new Error(`invalid Kubernetes objects:\n${failures.join("\n")}`);
}
