public enum TensorwireProtoPlaceholder {}
