"""The only place with sockets: SIP transports (UDP, TCP), the RTP port pool and relay."""
