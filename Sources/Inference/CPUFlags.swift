
/// The instruction-set flags Linux reports for this CPU in /proc/cpuinfo (it clears those whose register state the OS
/// does not save); empty where the file cannot be read.
enum CPUFlags {
    static let reported: Set<String> = {
        guard let bytes = RepositoryFiles.read("/proc/cpuinfo"),
              case let cpuinfo = String(decoding: bytes, as: UTF8.self),
              let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return [] }
        return Set(flagsLine.split(separator: " ").map(String.init))
    }()
}
