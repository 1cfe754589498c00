# The two commands of the README: `make run` and `make test`. Both set up first.
SHELL := /bin/bash
CARGO ?= cargo
IMG ?= ../shared/data/bioid/challenge_right_1.png
export ORT_DYLIB_PATH ?= $(CURDIR)/runtime/onnxruntime/libonnxruntime.so.1.32.0

.PHONY: setup build run score test bench soak eval fuzz fuzz-seeds clean

## Fetch ONNX Runtime (PyPI wheel) and the models (mirror or upstream), checksummed. Idempotent.
setup:
	@./scripts/setup.sh

build: setup
	$(CARGO) build --release --locked

## Run the service: the worker, consuming from RabbitMQ (LIVENESS__AMQP__URL, default 127.0.0.1:5672).
run: build
	./target/release/liveness worker

## Score the image(s) in IMG without a broker and print the BWS response.
score: build
	./target/release/liveness score $(IMG) --pretty

## Every test of the workspace (the service and crates/loadtest): formatting, lints, unit and
## integration tests with the real models.
test: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	$(CARGO) nextest run --locked --workspace --no-fail-fast

## Criterion benchmarks of each stage, then the load test through the real broker
## (crates/loadtest, docs/performance.md): throughput, latency, CPU per job and peak RSS, with
## worker processes of target/release/liveness.
bench: build
	$(CARGO) bench --locked -p liveness --bench score --bench motion
	$(CARGO) build --release --locked -p liveness-loadtest
	./target/release/liveness-loadtest --suite --json target/loadtest.json

## The soak (crates/loadtest, docs/performance.md "Soak"): 10,000 one-image jobs through two
## workers of target/release/liveness with at most 16 unanswered at a time; prints throughput,
## each worker's peak and current RSS after the first and the last thousand jobs and their
## growth, and errors (also as JSON in target/soak.json). Fails when a job is missing, answered
## twice or not with 200, or a worker exited.
soak: build
	$(CARGO) build --release --locked -p liveness-loadtest
	./target/release/liveness-loadtest --soak --json target/soak.json

## Active and passive liveness evaluation (APCER/BPCER per attack type, source, capture and
## face-luminance band): writes docs/evaluation.md.
eval: setup
	$(CARGO) run --release --locked --example eval

## Fuzz one target (docs/fuzzing.md) for FUZZ_SECONDS, one job: request, image_intake or token.
## Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). New inputs
## go to fuzz/corpus/<target> (not committed), crashes to fuzz/artifacts/<target>.
FUZZ_TARGET ?= token
FUZZ_SECONDS ?= 600
FUZZ_RSS_MB ?= 2048
FUZZ_TIMEOUT ?= 10
FUZZ_MAX_LEN_request := 16384
FUZZ_MAX_LEN_image_intake := 65536
FUZZ_MAX_LEN_token := 4096
fuzz:
	@command -v cargo-fuzz >/dev/null || { echo "make fuzz: cargo install cargo-fuzz --locked" >&2; exit 1; }
	@[ -n "$(FUZZ_MAX_LEN_$(FUZZ_TARGET))" ] || { echo "make fuzz: FUZZ_TARGET is request, image_intake or token" >&2; exit 1; }
	mkdir -p fuzz/corpus/$(FUZZ_TARGET)
	@# The shared photos, downscaled with their camera EXIF, join the working corpus (not committed).
	if [ "$(FUZZ_TARGET)" = image_intake ] && [ -x fuzz/.venv/bin/python ] && [ -d ../shared/data ]; then \
	  fuzz/.venv/bin/python fuzz/make_seeds.py --shared ../shared/data --out fuzz/corpus/image_intake; fi
	cd fuzz && $(CARGO) +nightly fuzz run $(FUZZ_TARGET) corpus/$(FUZZ_TARGET) seeds/$(FUZZ_TARGET) -- \
	  -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=$(FUZZ_RSS_MB) -timeout=$(FUZZ_TIMEOUT) \
	  -max_len=$(FUZZ_MAX_LEN_$(FUZZ_TARGET)) -dict=dict/$(FUZZ_TARGET).dict -print_final_stats=1

## Regenerate the committed seed corpora fuzz/seeds/<target> (Pillow, pinned, into fuzz/.venv).
fuzz-seeds:
	[ -x fuzz/.venv/bin/python ] || python3 -m venv fuzz/.venv
	fuzz/.venv/bin/pip install --quiet --no-deps --require-hashes -r fuzz/requirements.txt
	fuzz/.venv/bin/python fuzz/make_seeds.py

clean:
	$(CARGO) clean
