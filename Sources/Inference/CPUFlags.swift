internal import Foundation

/// The instruction-set flags Linux reports for this CPU in /proc/cpuinfo (it clears those whose register state the OS
/// does not save); empty where the file cannot be read.
enum CPUFlags {
    static let reported: Set<String> = {
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return [] }
        return Set(flagsLine.split(separator: " ").map(String.init))
    }()
}
