// Clients/TensorwireCLI/SealCommand.swift: `tensorwire seal` and `tensorwire unseal` (docs/sealed-models.md).
internal import Crypto

/// Sealing model files for the server's `--model-keys`, and opening them again for their owner. Talks to no
/// server; the work is Crypto's `SealedModelFile`.
enum SealCommand {
    static let sealSpec = OptionSpec(
        values: ["--key-file", "--output", "--new-key", "--chunk-bytes"], aliases: ["-o": "--output"])
    static let unsealSpec = OptionSpec(values: ["--key-file", "--output"], aliases: ["-o": "--output"])

    static let sealHelp = """
        usage: tensorwire seal --key-file KEY MODEL [-o OUTPUT] [--chunk-bytes N]
               tensorwire seal --new-key KEY

        Encrypts MODEL (a .onnx file) with AES-256-GCM into OUTPUT (default MODEL.sealed), for a version folder of a
        server started with --model-keys: put it at <model>/<version>/model.onnx.sealed. Prints the model's SHA-256,
        which config.json may pin as "sha256". The format: docs/sealed-models.md. Talks to no server.
          --key-file KEY     the key: a file of exactly 32 raw bytes
          -o, --output FILE  where the sealed file goes (created or replaced)
          --chunk-bytes N    plaintext bytes per authenticated chunk (default 1048576, 16 to 16777216)
          --new-key KEY      write a fresh random key to the new file KEY (mode 0600; an existing file is left
                             alone) and print its id
        """

    static let unsealHelp = """
        usage: tensorwire unseal --key-file KEYS SEALED -o OUTPUT

        Decrypts a sealed model file into OUTPUT (created or replaced, mode 0600), checking every chunk, and prints
        the model's SHA-256. For the model's owner; the server never writes the plaintext anywhere.
          --key-file KEYS    a key file (32 raw bytes) or a folder of key files; the file's key id picks one
          -o, --output FILE  where the plaintext model goes
        """

    static func seal(_ parsed: ParsedArguments, _ console: Console) throws(CLIError) -> Int32 {
        if let path = parsed.value("--new-key") {
            guard parsed.positionals.isEmpty, parsed.value("--key-file") == nil, parsed.value("--output") == nil else {
                throw .usage("seal --new-key FILE takes nothing else (seal a model in a second command)")
            }
            let key = ModelKey.generate()
            do throws(ModelKeyError) {
                try key.write(toNewFile: path)
            } catch {
                throw .input("\(error)")
            }
            console.out("wrote a new model key to \(path) (mode 0600), key id \(key.idHex); keep it secret and "
                + "give it to the server with --model-keys")
            return 0
        }
        let given = try TensorwireCommand.positionals(parsed, "seal", ["MODEL"])
        let model = given[0]
        let output = parsed.value("--output") ?? model + ".sealed"
        var chunkBytes = SealedModelHeader.defaultChunkBytes
        if let text = parsed.value("--chunk-bytes") {
            guard let value = Int(text), SealedModelHeader.chunkBytesRange.contains(value) else {
                throw .usage("--chunk-bytes: '\(text)' is not a whole number in "
                    + "\(SealedModelHeader.chunkBytesRange.lowerBound)...\(SealedModelHeader.chunkBytesRange.upperBound)")
            }
            chunkBytes = value
        }
        guard output != model else { throw .usage("seal: the output must not be the model file itself") }
        let keys = try keyRing(parsed, command: "seal")
        guard keys.keys.count == 1, let key = keys.keys.first else {
            throw .usage("seal: --key-file must name one key file (it holds \(keys.keys.count) keys)")
        }
        do throws(SealedModelError) {
            let (header, sha256) = try SealedModelFile.seal(input: model, output: output, key: key, chunkBytes: chunkBytes)
            console.out("sealed \(model) (\(header.plaintextBytes) bytes, \(header.chunkCount) chunk(s)) into \(output) "
                + "with key id \(key.idHex)")
            console.out("sha256 \(Crypto.hex(sha256))")
        } catch {
            throw .input("seal: \(error)")
        }
        return 0
    }

    static func unseal(_ parsed: ParsedArguments, _ console: Console) throws(CLIError) -> Int32 {
        let given = try TensorwireCommand.positionals(parsed, "unseal", ["SEALED"])
        guard let output = parsed.value("--output") else { throw .usage("unseal needs -o OUTPUT") }
        guard output != given[0] else { throw .usage("unseal: the output must not be the sealed file itself") }
        let keys = try keyRing(parsed, command: "unseal")
        do throws(SealedModelError) {
            let sha256 = try SealedModelFile.unseal(input: given[0], output: output, keys: keys)
            console.out("unsealed \(given[0]) into \(output) (mode 0600)")
            console.out("sha256 \(Crypto.hex(sha256))")
        } catch {
            throw .input("unseal: \(given[0]): \(error)")
        }
        return 0
    }

    /// The keys of --key-file (a file or a folder).
    static func keyRing(_ parsed: ParsedArguments, command: String) throws(CLIError) -> ModelKeyRing {
        guard let path = parsed.value("--key-file") else { throw .usage("\(command) needs --key-file KEY") }
        do throws(ModelKeyError) {
            return try ModelKeyRing.load(path: path)
        } catch {
            throw .input("\(error)")
        }
    }
}
