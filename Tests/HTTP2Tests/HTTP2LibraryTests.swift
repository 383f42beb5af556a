import HTTP2
import Testing

@Test func linkedNGHTTP2IsAtLeast1_52() {
    let parts = HTTP2Library.version.split(separator: ".").compactMap { Int($0) }
    #expect(parts.count == 3)
    #expect(parts.count == 3 && (parts[0], parts[1]) >= (1, 52))
}
