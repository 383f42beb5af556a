// The tensorwire CLI: everything lives in TensorwireCLI (so tests reach it); this file only hands over.
internal import TensorwireCLI

#if canImport(Glibc)
internal import Glibc
#endif

exit(TensorwireCommand.run(Array(CommandLine.arguments.dropFirst()), environment: ProcessEnvironment.current()))
