import Inference
import Testing

@Test func blasThreadCountIsSettable() {
    let before = BLAS.threadCount
    BLAS.threadCount = 1
    #expect(BLAS.threadCount == 1)
    BLAS.threadCount = before
}

@Test func blasReportsItsKernelFamily() {
    #expect(!BLAS.coreName.isEmpty)
}
