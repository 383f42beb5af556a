import HTTP2

// The server lands with the transport and the Predict service (issues 3 and 5). Until then this binary says so,
// and the README's run command stays the one users will use.
print("tensorwire-server: libnghttp2 \(HTTP2Library.version); nothing is served yet (transport not landed)")
