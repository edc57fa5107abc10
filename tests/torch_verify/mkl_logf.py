"""Write PyTorch's `log_` of every f32 `uniform_()` value k·2⁻²⁴ (k < 2²⁴) as raw little-endian
f32 to OUT, for rebuilding and checking src/stream/torch/mkl_logf.zlib:

    python mkl_logf.py OUT.bin
    WEIGHTGEN_MKL_LOGF=OUT.bin [WEIGHTGEN_BLESS=1] cargo test --test torch_rng mkl_logf -- --ignored
"""
import sys

import numpy as np
import torch

x = (np.arange(0, 1 << 24, dtype=np.float64) * 2.0**-24).astype(np.float32)
y = torch.from_numpy(x.copy()).log_().numpy()
# Chunking must not matter (MKL is called per TensorIterator chunk): odd slices agree.
for off, n in [(1, 1000), (3, 17), (5, 100003), (7, 7)]:
    z = torch.from_numpy(x[off:off + n].copy()).log_().numpy()
    assert (z.view(np.int32) == y[off:off + n].view(np.int32)).all(), (off, n)
y.astype("<f4").tofile(sys.argv[1])
print(f"wrote {len(y)} values with torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}, "
      f"MKL {torch.backends.mkl.is_available()})")
