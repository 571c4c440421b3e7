export { mdns } from "@libp2p/mdns";
