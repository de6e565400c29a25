// The engine's ResourceProvider protocol over gRPC, served for the multiwan
// provider. The Node SDK's own server (@pulumi/pulumi/provider) ignores the
// provider's configuration and never sends `diffs` or `detailedDiff`
// (design §3), so this one takes its place, as cli/languageHost.ts does for
// the language runtime. It only converts: protobuf Structs to plain objects
// and back (secrets stay wrapped both ways, so the state keeps ciphertext),
// results to responses, exceptions to gRPC errors. What each call does is
// MultiwanProvider's business.
import path from "node:path";
import type * as grpcTypes from "@grpc/grpc-js";
import { PartialCreateError } from "./lifecycle";
import type { MultiwanProvider } from "./provider";
import type { DiffResult, PropertyDiffKind } from "./propertyDiff";

/** The SDK's generated stubs and its own grpc-js, loaded from wherever @pulumi/pulumi is installed. */
function loadStubs() {
  const sdkDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
  const load = (id: string) => require(require.resolve(id, { paths: [sdkDir] }));
  return {
    grpc: load("@grpc/grpc-js") as typeof grpcTypes,
    rpc: load("@pulumi/pulumi/proto/provider_grpc_pb"),
    proto: load("@pulumi/pulumi/proto/provider_pb"),
    plugin: load("@pulumi/pulumi/proto/plugin_pb"),
    empty: load("google-protobuf/google/protobuf/empty_pb"),
    any: load("google-protobuf/google/protobuf/any_pb"),
    status: load("@pulumi/pulumi/proto/status_pb"),
    struct: load("google-protobuf/google/protobuf/struct_pb"),
    channelOptions: load("@pulumi/pulumi/runtime").grpcChannelOptions as Record<string, unknown>,
  };
}

type Stubs = ReturnType<typeof loadStubs>;
type Props = Record<string, unknown>;
// Generated protobuf messages: their typings would add nothing to a layer that only converts.
type Message = any;
type Call = { request: Message };
type Callback = (err: grpcTypes.ServiceError | null, response?: Message) => void;

/** The schema `pulumi package get-schema` shows: the resources are typed by their kinds' zod schemas, not here. */
const SCHEMA = (version: string) => JSON.stringify({ name: "multiwan", version, resources: {} });

export class ProviderServer {
  private readonly stubs: Stubs = loadStubs();

  constructor(private readonly provider: MultiwanProvider) {}

  /** Binds 127.0.0.1:<free port> and returns the port: the plugin prints it, the engine dials it. */
  async listen(): Promise<{ port: number; close(): void }> {
    const { grpc, rpc, channelOptions } = this.stubs;
    const server = new grpc.Server({ ...channelOptions });
    // Calls not listed (Invoke, Call, Construct, Parameterize, List, GetMapping(s)) answer UNIMPLEMENTED.
    server.addService(rpc.ResourceProviderService, this.handlers() as never);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    return { port, close: () => server.forceShutdown() };
  }

  private handlers(): Record<string, (call: Call, callback: Callback) => void> {
    const { proto, plugin, empty } = this.stubs;
    const p = this.provider;
    const toJs = (s: Message): Props => (s ? (s.toJavaScript() as Props) : {});
    const answer = this.answer.bind(this);
    return {
      handshake: answer(async () => {
        const resp = new proto.ProviderHandshakeResponse();
        resp.setAcceptSecrets(true);
        resp.setAcceptResources(true);
        return resp;
      }),
      attach: answer(async () => new empty.Empty()),
      getPluginInfo: answer(async () => {
        const resp = new plugin.PluginInfo();
        resp.setVersion(p.version);
        return resp;
      }),
      getSchema: answer(async () => {
        const resp = new proto.GetSchemaResponse();
        resp.setSchema(SCHEMA(p.version));
        return resp;
      }),
      checkConfig: answer(async ({ request: r }) =>
        this.checkResponse(await p.checkConfig(r.getUrn(), toJs(r.getOlds()), toJs(r.getNews()))),
      ),
      diffConfig: answer(async ({ request: r }) => this.diffResponse(await p.diffConfig(r.getUrn(), toJs(r.getOlds()), toJs(r.getNews())))),
      configure: answer(async ({ request: r }) => {
        await p.configure(toJs(r.getArgs()));
        const resp = new proto.ConfigureResponse();
        resp.setAcceptsecrets(true);
        resp.setAcceptresources(true);
        // The engine may still ask for a preview of a create or update (it
        // assumes so after a Handshake): those never contact the gateway.
        resp.setSupportspreview(true);
        return resp;
      }),
      check: answer(async ({ request: r }) => this.checkResponse(await p.check(r.getUrn(), toJs(r.getOlds()), toJs(r.getNews())))),
      diff: answer(async ({ request: r }) => this.diffResponse(await p.diff(r.getId(), r.getUrn(), toJs(r.getOlds()), toJs(r.getNews())))),
      create: answer(async ({ request: r }) => {
        const result = await p.create(r.getUrn(), toJs(r.getProperties()), r.getPreview());
        const resp = new proto.CreateResponse();
        resp.setId(result.id);
        resp.setProperties(this.toStruct(result.outs));
        return resp;
      }),
      read: answer(async ({ request: r }) => {
        const result = await p.read(r.getId(), r.getUrn(), toJs(r.getProperties()));
        const resp = new proto.ReadResponse();
        resp.setId(result.id ?? r.getId());
        resp.setProperties(this.toStruct(result.props));
        if (result.inputs) resp.setInputs(this.toStruct(result.inputs));
        return resp;
      }),
      update: answer(async ({ request: r }) => {
        const result = await p.update(r.getId(), r.getUrn(), toJs(r.getOlds()), toJs(r.getNews()), r.getPreview());
        const resp = new proto.UpdateResponse();
        resp.setProperties(this.toStruct(result.outs));
        return resp;
      }),
      delete: answer(async ({ request: r }) => {
        await p.delete(r.getId(), r.getUrn(), toJs(r.getProperties()));
        return new empty.Empty();
      }),
      cancel: answer(async () => {
        await p.cancel();
        return new empty.Empty();
      }),
    };
  }

  /** Runs one call; an exception becomes a gRPC error carrying its message (what the engine shows). */
  private answer(body: (call: Call) => Promise<Message>) {
    return (call: Call, callback: Callback) => {
      body(call).then(
        (resp) => callback(null, resp),
        (err: unknown) => {
          const message = err instanceof Error ? err.message : String(err);
          const metadata = err instanceof PartialCreateError ? this.initFailed(err) : undefined;
          callback({ code: this.stubs.grpc.status.UNKNOWN, details: message, message, metadata } as grpcTypes.ServiceError);
        },
      );
    };
  }

  /**
   * A create that ran partly: the engine's ErrorResourceInitFailed, in the
   * gRPC status details (as the Node SDK's own server sends it), so the
   * engine records the resource with these outputs instead of forgetting it.
   */
  private initFailed(err: PartialCreateError): grpcTypes.Metadata {
    const { grpc, proto, any, status } = this.stubs;
    const detail = new proto.ErrorResourceInitFailed();
    detail.setId(err.id);
    detail.setProperties(this.toStruct(err.outs));
    detail.setReasonsList([err.message]);
    const packed = new any.Any();
    packed.pack(detail.serializeBinary(), "pulumirpc.ErrorResourceInitFailed");
    const st = new status.Status();
    st.setCode(grpc.status.UNKNOWN);
    st.setMessage(err.message);
    st.addDetails(packed);
    const metadata = new grpc.Metadata();
    metadata.add("grpc-status-details-bin", Buffer.from(st.serializeBinary()));
    return metadata;
  }

  /** Drops undefined values first: a Struct has no way to say "absent". */
  private toStruct(value: unknown): Message {
    return this.stubs.struct.Struct.fromJavaScript(JSON.parse(JSON.stringify(value ?? {})));
  }

  private checkResponse(result: { inputs?: unknown; failures?: { property: string; reason: string }[] }): Message {
    const { proto } = this.stubs;
    const resp = new proto.CheckResponse();
    resp.setInputs(this.toStruct(result.inputs));
    resp.setFailuresList(
      (result.failures ?? []).map((f) => {
        const failure = new proto.CheckFailure();
        failure.setProperty(f.property);
        failure.setReason(f.reason);
        return failure;
      }),
    );
    return resp;
  }

  private diffResponse(result: DiffResult): Message {
    const { proto } = this.stubs;
    const resp = new proto.DiffResponse();
    resp.setChanges(result.changes ? proto.DiffResponse.DiffChanges.DIFF_SOME : proto.DiffResponse.DiffChanges.DIFF_NONE);
    resp.setReplacesList(result.replaces);
    resp.setDiffsList(result.diffs);
    resp.setDeletebeforereplace(result.deleteBeforeReplace);
    const detailed = resp.getDetaileddiffMap();
    for (const [property, d] of Object.entries(result.detailedDiff)) {
      const pd = new proto.PropertyDiff();
      pd.setKind(proto.PropertyDiff.Kind[d.kind satisfies PropertyDiffKind]);
      pd.setInputdiff(d.inputDiff);
      detailed.set(property, pd);
    }
    resp.setHasdetaileddiff(true);
    return resp;
  }
}
