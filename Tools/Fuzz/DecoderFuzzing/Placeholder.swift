public enum DecoderFuzzingPlaceholder {}
