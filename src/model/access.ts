import { Type, type Static } from '@sinclair/typebox';
import { Timestamp, Uid } from './common.js';
import { UserName } from './user.js';

/** "SHA256:" and the unpadded base64 of the key blob's SHA-256, as `ssh-keygen -l` prints it. */
export const KeyFingerprint = Type.String({
  pattern: '^SHA256:[A-Za-z0-9+/]{43}$',
  description: 'SHA256 fingerprint as `ssh-keygen -l` prints it ("SHA256:" + 43 base64 characters)',
});

export const UserKeyCreate = Type.Object({
  key: Type.String({
    minLength: 1,
    maxLength: 16384,
    description: 'a public key in OpenSSH one-line form: "ssh-ed25519 AAAA… comment" (ed25519, ecdsa, RSA of 2048 bits or more)',
  }),
});
export type UserKeyCreate = Static<typeof UserKeyCreate>;

export const UserKey = Type.Object(
  {
    fingerprint: KeyFingerprint,
    user: UserName,
    type: Type.String({ description: 'key type: ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa …' }),
    key: Type.String({ description: 'the public key, "<type> <base64>"' }),
    comment: Type.String(),
    created_at: Timestamp,
  },
  { $id: 'UserKey' },
);
export type UserKey = Static<typeof UserKey>;

export const ACCESS_KINDS = ['shell', 'exec', 'sftp', 'port-forward', 'console', 'copy-in', 'copy-out'] as const;

export const AccessSession = Type.Object(
  {
    id: Uid,
    application_uid: Uid,
    user: UserName,
    source: Type.String({ description: 'the client address (ip:port)' }),
    via: Type.Union([Type.Literal('ssh'), Type.Literal('api')], { description: 'the SSH gate or an API WebSocket' }),
    kind: Type.Union(
      ACCESS_KINDS.map((k) => Type.Literal(k)),
      { description: 'what the session was' },
    ),
    node: Type.String(),
    started_at: Timestamp,
    ended_at: Type.Union([Timestamp, Type.Null()], { description: 'null while it runs' }),
    exit_status: Type.Union([Type.Integer(), Type.Null()], { description: "the command's exit status, if one was reported" }),
    bytes_in: Type.Integer({ description: 'bytes from the client into the environment' }),
    bytes_out: Type.Integer({ description: 'bytes from the environment to the client' }),
  },
  { $id: 'AccessSession' },
);
export type AccessSession = Static<typeof AccessSession>;
