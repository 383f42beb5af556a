/// Models compiled into the server binary, served when no model repository is given.
public enum BuiltinModels {
    /// The ONNX bytes of `digits`: scikit-learn's MLPClassifier trained on the bundled 8×8 digits data set.
    /// Input `X`: float32 [N, 64] (pixel intensities 0–16); outputs `label`: int64 [N] and `probabilities`:
    /// float32 [N, 10].
    public static var digitsONNX: [UInt8] { decodeBase64(digitsBase64) }

    /// Compiles the `digits` model with `gemm`. It is generated and tested with the source, so a failure is a build
    /// defect.
    public static func digits(gemm: GEMMBackend = .preferred) throws(ModelLoadError) -> Model {
        try Model(onnxBytes: digitsONNX, name: "digits", source: "builtin:digits", gemm: gemm)
    }

    /// Decodes standard base64, ignoring line breaks and anything else outside the alphabet.
    static func decodeBase64(_ text: String) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in text.utf8 {
            let value: UInt32
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(byte - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(byte - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(byte - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            default: continue
            }
            accumulator = (accumulator << 6) | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        return output
    }
}
