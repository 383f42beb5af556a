internal import Base64Codec
/// Models compiled into the server binary, served when no model repository is given.
public enum BuiltinModels {
    /// The ONNX bytes of `digits`: scikit-learn's MLPClassifier trained on the bundled 8×8 digits data set.
    /// Input `X`: float32 [N, 64] (pixel intensities 0–16); outputs `label`: int64 [N] and `probabilities`:
    /// float32 [N, 10].
    public static var digitsONNX: [UInt8] { Base64.decode(digitsBase64, ignoringLineBreaks: true) ?? [] }

    /// Compiles the `digits` model with `gemm`. It is generated and tested with the source, so a failure is a build
    /// defect.
    public static func digits(gemm: GEMMBackend = .preferred) throws(ModelLoadError) -> Model {
        try Model(onnxBytes: digitsONNX, name: "digits", source: "builtin:digits", gemm: gemm)
    }
}
