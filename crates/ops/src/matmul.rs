//! The one matrix product the Flex kernels call: gemm's, with the arguments they never vary
//! fixed, and each operand as a pointer with its strides.

/// A matrix operand in memory: its first element and the distances, in elements, between
/// consecutive rows and consecutive columns (a transposed read swaps them).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Operand<P> {
    pub at: P,
    pub row: usize,
    pub col: usize,
}

impl<P> Operand<P> {
    /// A row-major matrix of rows `row` elements apart.
    pub fn rows(at: P, row: usize) -> Self {
        Self { at, row, col: 1 }
    }

    /// A column-major matrix of columns `col` elements apart: a row-major one read transposed.
    pub fn columns(at: P, col: usize) -> Self {
        Self { at, row: 1, col }
    }
}

/// `dst = lhs · rhs` for `lhs` `[m, k]`, `rhs` `[k, n]`, `dst` `[m, n]`; `dst += lhs · rhs` when
/// `accumulate`.
///
/// # Safety
/// Every element each operand's strides reach for its shape is in bounds of its allocation,
/// and nothing else reads or writes `dst`'s elements during the call.
pub(crate) unsafe fn product(
    [m, n, k]: [usize; 3],
    dst: Operand<*mut f32>,
    lhs: Operand<*const f32>,
    rhs: Operand<*const f32>,
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    // SAFETY: the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.at,
            dst.col as isize,
            dst.row as isize,
            accumulate,
            lhs.at,
            lhs.col as isize,
            lhs.row as isize,
            rhs.at,
            rhs.col as isize,
            rhs.row as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}
