// The Envoy ext_authz v3 gRPC client the decision tests send Check calls with, built from the proto
// in test/fixtures/ext-authz (one place for the loader options every such test used).
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ROOT } from './proxy-process.js';

/** The generated `envoy.service.auth.v3.Authorization` client class. */
export function extAuthzConstructor(): grpc.ServiceClientConstructor {
  const def = protoLoader.loadSync(join(ROOT, 'test', 'fixtures', 'ext-authz', 'external_auth.proto'), { keepCase: true, defaults: true, oneofs: true, longs: String });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } } };
  return pkg.envoy.service.auth.v3.Authorization;
}

/** An insecure (h2c) Authorization client for `address` (`host:port`). */
export function extAuthzClient(address: string): grpc.Client {
  return new (extAuthzConstructor())(address, grpc.credentials.createInsecure());
}
