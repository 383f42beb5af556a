internal import CNGHTTP2

/// Facts about the linked libnghttp2. This module is the only importer of `CNGHTTP2`; no C type leaves it.
public enum HTTP2Library {
    /// The runtime version string of libnghttp2, e.g. "1.52.0".
    public static var version: String {
        guard let info = nghttp2_version(0) else { return "unknown" }
        return String(cString: info.pointee.version_str)
    }
}
