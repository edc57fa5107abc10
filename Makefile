# weightgen — `make test` is what CI runs (.ci/run).
CARGO  ?= cargo
PYTHON ?= python3
VENV   := target/venv-interop
VPY    := $(VENV)/bin/python
BIN    := target/debug/weightgen
RBIN   := target/release/weightgen

.PHONY: all build test test-rust test-interop test-large test-memory verify-torch fixtures-torch verify-hf verify-hf-selftest hf-fixtures bench-hf scipy-reference verify-clients lint fmt fixtures study-docs demo bench man wheel test-wheel clean fuzz

all: build

build:
	$(CARGO) build --release --locked

## test: everything CI checks: formatting, clippy, Rust unit/integration/golden/stats tests, Python interop
test: lint test-rust test-interop

test-rust:
	$(CARGO) test --locked --all-targets
	$(CARGO) test --locked --doc

# The interop venv lives under target/ and is rebuilt when the pinned requirements change.
$(VENV)/.stamp: tests/interop/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
	touch $@

test-interop: $(VENV)/.stamp
	$(CARGO) build --locked
	$(VPY) tests/interop/interop.py $(BIN)

## test-large: slow checks kept out of `make test` (an .npz member over 4 GiB, ZIP64; the
## memory-mapped file path over several 64 MiB windows, ~0.5 GB written)
test-large: $(VENV)/.stamp
	$(CARGO) build --release --locked
	$(VPY) tests/interop/large_npz.py $(RBIN)
	$(CARGO) test --locked --test threads -- --ignored

## test-memory: peak RSS stays under 128 MiB and flat from 256 MiB to 2 GiB outputs on every
## write path (writes ~20 GB in all; not part of `make test`)
test-memory:
	$(CARGO) build --release --locked
	$(PYTHON) tests/memory.py $(RBIN)

## verify-torch: compare `--rng torch` and layer specs with a real PyTorch 2.15 (downloads
## about 5 GB of wheels into target/venv-torch; not part of `make test`, whose PyTorch checks
## use the committed reference files in fixtures/torch/)
TVENV := target/venv-torch
$(TVENV)/.stamp: tests/torch_verify/requirements.txt
	$(PYTHON) -m venv $(TVENV)
	$(TVENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/torch_verify/requirements.txt
	touch $@

verify-torch: $(TVENV)/.stamp
	$(CARGO) build --locked
	cd target && ../$(TVENV)/bin/python ../tests/torch_verify/verify.py ../$(BIN) ../fixtures/specs
	cd target && ../$(TVENV)/bin/python ../tests/torch_verify/mkl_logf.py torch_logf.bin
	WEIGHTGEN_MKL_LOGF=target/torch_logf.bin $(CARGO) test --locked --test torch_rng mkl_logf -- --ignored

## fixtures-torch: rewrite every file in fixtures/torch/ with real PyTorch 2.15 (same venv as
## verify-torch; see fixtures/torch/README.md), then `git status fixtures/torch` to compare
fixtures-torch: $(TVENV)/.stamp
	$(TVENV)/bin/python tests/torch_verify/make_fixtures.py fixtures/torch

## verify-hf: compare `generate --hf-config` (with --rng torch bit for bit, and native) with a
## real transformers 5.24 / PyTorch 2.15 on the fixtures/hf/tiny_* configs (downloads about 5 GB
## of wheels into target/venv-hf; not part of `make test`). VERIFY_HF_ARGS="--only TEXT" runs
## the cases whose name contains TEXT.
# The venv is rebuilt when the pinned requirements change.
HVENV := target/venv-hf
VERIFY_HF_ARGS ?=
$(HVENV)/.stamp: tests/hf_verify/requirements.txt
	$(PYTHON) -m venv $(HVENV)
	$(HVENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/hf_verify/requirements.txt
	touch $@

verify-hf: $(HVENV)/.stamp
	$(CARGO) build --locked
	$(HVENV)/bin/python tests/hf_verify/verify.py $(BIN) fixtures/hf $(VERIFY_HF_ARGS)

## verify-hf-selftest: verify.py's own checks against a stand-in binary and tampered outputs
verify-hf-selftest: $(HVENV)/.stamp
	$(HVENV)/bin/python tests/hf_verify/verify.py --self-test fixtures/hf $(VERIFY_HF_ARGS)

## hf-fixtures: regenerate fixtures/hf (tiny checkpoints' hashes, key lists and RNG draw order,
## real-size key lists on the meta device, config defaults); see fixtures/hf/README.md
hf-fixtures: $(HVENV)/.stamp
	$(HVENV)/bin/python tests/hf_verify/make_fixtures.py fixtures/hf
	$(HVENV)/bin/python tests/hf_verify/make_reference.py fixtures/hf target/hf-reference --write

## bench-hf: bench/hf.py: a TinyLlama-1.1B-shaped fp32 checkpoint from its config.json,
## weightgen (native and --rng torch) against from_config + save_pretrained measured in the same
## run (the verify-hf venv); writes bench/results-hf.md. `make bench` runs it too when that venv
## exists.
bench-hf: $(HVENV)/.stamp
	$(CARGO) build --release --locked
	$(HVENV)/bin/python bench/hf.py $(RBIN) $(HVENV)/bin/python

## scipy-reference: regenerate fixtures/reference/scipy_stats.json (normal and truncated-normal
## CDFs, KS statistics and critical values from SciPy, pinned in tests/reference/requirements.txt;
## venv in target/venv-scipy; not part of `make test`, which reads the committed table), then
## `git diff fixtures/reference` to compare
SVENV := target/venv-scipy
$(SVENV)/.stamp: tests/reference/requirements.txt
	$(PYTHON) -m venv $(SVENV)
	$(SVENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/reference/requirements.txt
	touch $@

scipy-reference: $(SVENV)/.stamp
	$(SVENV)/bin/python tests/reference/scipy_stats.py
	$(CARGO) test --locked --test scipy_reference

## verify-clients: the README's "Loading the files" guide, run: tests/clients/make_files.py
## writes every format and dtype (and sharded and --hf-config checkpoints) with the current
## build, then NumPy and JAX (target/venv-clients), PyTorch and transformers (the verify-hf venv,
## about 5 GB), Candle 0.11 and Burn 0.22 (crates in tests/clients/, built into target/clients:
## several minutes cold on 2 cores) load each and compare every tensor's SHA-256 with
## `generate --json`; any mismatch, or a trap the guide names that is gone, fails. Not part of
## `make test` (whose tests/clients_guide.rs checks the snippets are the clients' code).
CVENV  := target/venv-clients
CFILES := target/clients/files
CLIENT_CARGO := $(CARGO) build --locked --quiet --target-dir ../../../target/clients
$(CVENV)/.stamp: tests/clients/requirements.txt
	$(PYTHON) -m venv $(CVENV)
	$(CVENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
	touch $@

verify-clients: $(CVENV)/.stamp $(HVENV)/.stamp
	$(CARGO) build --locked
	$(PYTHON) tests/clients/make_files.py $(BIN) $(CFILES)
	$(CVENV)/bin/python tests/clients/python_client.py $(CFILES) numpy
	$(CVENV)/bin/python tests/clients/python_client.py $(CFILES) jax
	HF_HUB_OFFLINE=1 $(HVENV)/bin/python tests/clients/python_client.py $(CFILES) torch
	@t=$$(date +%s); cd tests/clients/candle && $(CLIENT_CARGO) && \
	  echo "candle: built in $$(( $$(date +%s) - t )) s"
	target/clients/debug/weightgen-client-candle $(CFILES)
	@t=$$(date +%s); cd tests/clients/candle && $(CLIENT_CARGO) --features deflate && \
	  echo "candle --features deflate: built in $$(( $$(date +%s) - t )) s"
	target/clients/debug/weightgen-client-candle $(CFILES)
	@t=$$(date +%s); cd tests/clients/burn && $(CLIENT_CARGO) && \
	  echo "burn: built in $$(( $$(date +%s) - t )) s"
	target/clients/debug/weightgen-client-burn $(CFILES)

## lint: formatting, clippy, rustdoc without warnings, no tracked file pointing outside the repository, and the PyTorch
## fixtures agreeing with the script that makes them
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --locked --no-deps
	RUSTFLAGS="-D warnings" $(CARGO) check --locked --lib --no-default-features --target-dir target/no-default
	sh tests/no_outside_paths.sh
	$(PYTHON) tests/torch_verify/make_fixtures.py --check

fmt:
	$(CARGO) fmt --all

## fixtures: regenerate the golden files (only when the stream changes on purpose) and the
## reference formula table
fixtures:
	$(CARGO) build --release --locked
	WEIGHTGEN_BLESS=1 $(CARGO) test --locked --test golden
	WEIGHTGEN_BLESS=1 $(CARGO) test --locked --test malformed committed_corpus
	$(PYTHON) tests/reference/formulas.py

## study-docs: the README's study plot (the paper's setting, seed 0)
study-docs:
	$(CARGO) build --release --locked
	$(RBIN) study --plot docs/study-default.svg

## bench: weightgen against dd, NumPy and (if `make verify-torch` has made its venv) PyTorch;
## writes bench/results.md. Needs ~14 GiB of RAM for the NumPy/PyTorch 4 GiB cases and ~10 GiB
## of disk. BENCH_ARGS="--quick" runs the 1 GiB cases only; "--reps N" sets repetitions;
## "--only TEXT" runs the cases whose name contains TEXT; "--out FILE" names the report.
BENCH_ARGS ?=
bench: $(VENV)/.stamp
	$(CARGO) build --release --locked
	$(VPY) bench/run.py $(RBIN) $(VPY) $(wildcard $(TVENV)/bin/python) $(BENCH_ARGS)
	if [ -x $(HVENV)/bin/python ]; then $(HVENV)/bin/python bench/hf.py $(RBIN) $(HVENV)/bin/python; fi

## demo: the README's first command
demo:
	$(CARGO) run --release --locked -- generate --spec fixtures/specs/mlp.json -o target/demo-mlp.safetensors --force --json

## fuzz: each reader's cargo-fuzz target (fuzz/) for FUZZ_SECS seconds, then the stable
## mutation fuzzer (tests/mutate.rs) for FUZZ_SECS. libFuzzer needs nightly features: this uses
## RUSTC_BOOTSTRAP=1 so a stable toolchain works too. Without cargo-fuzz (`cargo install
## cargo-fuzz`) only the stable fuzzer runs. Seeds: fixtures/golden and fixtures/malformed.
FUZZ_SECS ?= 60
FUZZ_TARGETS := safetensors npy npz
fuzz:
	@if $(CARGO) fuzz --version >/dev/null 2>&1; then \
	  for t in $(FUZZ_TARGETS); do \
	    mkdir -p fuzz/corpus/$$t; \
	    cp fixtures/malformed/*.$$t fixtures/golden/*.$$t fuzz/corpus/$$t/ 2>/dev/null; \
	    echo "fuzz: $$t for $(FUZZ_SECS) s"; \
	    RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -O $$t -- -max_total_time=$(FUZZ_SECS) \
	      -max_len=8192 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 || exit 1; \
	  done; \
	else \
	  echo "fuzz: cargo-fuzz is not installed; running the stable mutation fuzzer only"; \
	fi
	WEIGHTGEN_FUZZ_SECS=$(FUZZ_SECS) $(CARGO) test --locked --test mutate -- --nocapture

## man: one man page per subcommand (weightgen-generate.1, weightgen-inspect.1, …) and
## weightgen.1, into target/man (`man -l target/man/weightgen-generate.1` reads one)
man:
	$(CARGO) build --release --locked
	$(RBIN) man --dir target/man

## wheel: a Python wheel holding the `weightgen` command (maturin, bindings = "bin"; see
## pyproject.toml) in target/wheels; maturin comes from PyPI into target/venv-maturin
MVENV := target/venv-maturin
$(MVENV)/.stamp: tests/wheel/requirements.txt
	$(PYTHON) -m venv $(MVENV)
	$(MVENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/wheel/requirements.txt
	touch $@

wheel: $(MVENV)/.stamp
	rm -f target/wheels/weightgen-*.whl
	$(MVENV)/bin/maturin build --release --locked --out target/wheels

## test-wheel: the README's install commands, each into a fresh root under target/: the wheel
## of `make wheel` and `pip install .` into new venvs, and `cargo install --locked --path .`;
## each installed `weightgen` must print the version and write the cargo build's bytes (slow:
## release builds; not part of `make test`)
WVENV := target/venv-wheel-test
test-wheel: wheel
	$(CARGO) build --release --locked
	rm -rf $(WVENV) $(WVENV)-src target/cargo-install-test
	$(PYTHON) -m venv $(WVENV)
	$(WVENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-index target/wheels/weightgen-*.whl
	$(PYTHON) tests/wheel/check.py $(WVENV) $(RBIN) Cargo.toml
	$(PYTHON) -m venv $(WVENV)-src
	$(WVENV)-src/bin/python -m pip install --quiet --disable-pip-version-check .
	$(PYTHON) tests/wheel/check.py $(WVENV)-src $(RBIN) Cargo.toml
	CARGO_TARGET_DIR=target $(CARGO) install --quiet --locked --path . --root target/cargo-install-test
	$(PYTHON) tests/wheel/check.py target/cargo-install-test $(RBIN) Cargo.toml

clean:
	$(CARGO) clean
