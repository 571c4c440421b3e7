export { createLibp2p } from "libp2p";
export { tcp } from "@libp2p/tcp";
export { noise } from "@libp2p/noise";
export { yamux } from "@libp2p/yamux";
export { StreamState, YamuxStream } from "@libp2p/yamux/stream";
export { gossipsub, TopicValidatorResult } from "@libp2p/gossipsub";
export { createTopicScoreParams } from "@libp2p/gossipsub/score";
export { identify } from "@libp2p/identify";
export { ping } from "@libp2p/ping";
export { circuitRelayServer, circuitRelayTransport } from "@libp2p/circuit-relay-v2";
export { dcutr } from "@libp2p/dcutr";
export { preSharedKey } from "@libp2p/pnet";
export { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from "@libp2p/crypto/keys";
export { peerIdFromCID, peerIdFromPrivateKey, peerIdFromString } from "@libp2p/peer-id";
export { PeerRecord, RecordEnvelope } from "@libp2p/peer-record";
export {
  InvalidDataLengthError,
  InvalidDataLengthLengthError,
  InvalidMessageLengthError,
  isPrivate,
  LengthPrefixedDecoder,
  lpStream,
} from "@libp2p/utils";
export { InvalidParametersError, KEEP_ALIVE } from "@libp2p/interface";
export { multiaddr } from "@multiformats/multiaddr";
