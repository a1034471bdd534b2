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
APT_PACKAGES := pkg-config libopenblas-dev zlib1g-dev dataset-fashion-mnist
DEMO_DIR := .build/demo

.PHONY: demo test build bench deps clean

demo: deps build
	@mkdir -p $(DEMO_DIR)
	$(PRUNE) train --model lenet300 --epochs 10 --out $(DEMO_DIR)/lenet300.safetensors
	$(PRUNE) eval $(DEMO_DIR)/lenet300.safetensors

test: deps
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
