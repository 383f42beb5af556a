internal import Base64Codec
/// Models compiled into the server binary, served when no model repository is given.
public enum BuiltinModels {
    /// The ONNX bytes of `digits`: scikit-learn's MLPClassifier trained on the bundled 8×8 digits data set.
    /// Input `X`: float32 [N, 64] (pixel intensities 0–16); outputs `label`: int64 [N] and `probabilities`:
    /// float32 [N, 10].
    public static var digitsONNX: [UInt8] { Base64.decode(digitsBase64, ignoringLineBreaks: true) ?? [] }

    /// SHA-256 of `digitsONNX` (what GetModel reports), written out so that a server serving only the built-in
    /// model never starts OpenSSL: its first digest loads the library's providers and tables, ~3 MB of the idle
    /// server's memory (docs/performance.md). DigitsTests holds it equal to the computed digest.
    public static let digitsSHA256 = "adc5f065ce7c0fe15265b71ccb13c198c60d1ec26ca5a1ab6ab33c19d0c9e121"

    /// Compiles the `digits` model with `gemm`. It is generated and tested with the source, so a failure is a build
    /// defect.
    public static func digits(gemm: GEMMBackend = .preferred) throws(ModelLoadError) -> Model {
        try Model(onnxBytes: digitsONNX, name: "digits", source: "builtin:digits", gemm: gemm)
    }
}
