import HTTP2
import Testing

@Suite struct StreamMapTests {
    @Test func insertLookUpReplaceAndRemove() {
        var map = StreamMap<String>()
        #expect(map.isEmpty)
        map[1] = "one"
        map[3] = "three"
        map[0] = "connection"
        #expect(map[1] == "one" && map[3] == "three" && map[0] == "connection" && map[5] == nil)
        map[3] = "THREE"
        #expect(map.count == 3 && map[3] == "THREE")
        #expect(map.removeValue(forKey: 3) == "THREE")
        #expect(map.removeValue(forKey: 3) == nil)
        map[1] = nil
        #expect(map.count == 1 && map[1] == nil && map[0] == "connection")
        map.removeAll()
        #expect(map.isEmpty && map[0] == nil)
    }

    @Test func matchesADictionaryThroughGrowthAndRemovalsInRuns() {
        // A deterministic mix of inserts and removals over odd ids (client streams), negative and colliding ids
        // included, checked against Dictionary after every step.
        var map = StreamMap<Int32>()
        var reference: [Int32: Int32] = [:]
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        for step in 0..<20_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let pick = Int32(truncatingIfNeeded: state >> 33) % 700
            let key = step % 7 == 0 ? -pick : pick * 2 + 1
            if state >> 62 == 0 {
                #expect(map.removeValue(forKey: key) == reference.removeValue(forKey: key))
            } else {
                map[key] = Int32(step)
                reference[key] = Int32(step)
            }
            #expect(map.count == reference.count)
            if step % 500 == 0 {
                for (key, value) in reference { #expect(map[key] == value) }
                #expect(map.values.sorted() == reference.values.sorted())
            }
        }
        for key in Array(reference.keys) {
            #expect(map.removeValue(forKey: key) == reference.removeValue(forKey: key))
        }
        #expect(map.isEmpty)
    }
}
