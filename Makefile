# Two commands do everything on a fresh machine:
#   make run   installs what is needed and runs the paper's default task on the embedded default
#   make test  installs what is needed (with the dev extra) and runs the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
RUN_ARGS ?= --task noise-at-5s --model reference --limit 32 --out runs/default

SYSTEM_PACKAGES := fluidsynth timgm6mb-soundfont
# abcmidi: midi2abc / abc2midi, the MIDI <-> ABC converters of the hf-abc adapter
SYSTEM_PACKAGES += abcmidi
TEST_PACKAGES := chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# system packages only for the runs that use them: audio models render MIDI with FluidSynth and
# a soundfont, hf-abc converts with abcmidi; the default run (a symbolic model) needs neither
SYSTEM_MODELS := audio-reference musicgen yue hf-abc
RUN_NEEDS := $(if $(strip $(foreach m,$(SYSTEM_MODELS),$(findstring $(m),$(RUN_ARGS)))),system,)

BOARD_MODELS := reference reference-tiny ngram audio-reference
BOARD_ARGS ?= --task board --no-wandb

.PHONY: run test lint install install-dev system system-test board clean docs docs-runs

# FluidSynth and a General MIDI soundfont render MIDI to audio (audio models, WAV examples);
# without root or sudo, one line says what to install
system:
	@command -v fluidsynth >/dev/null 2>&1 && command -v midi2abc >/dev/null 2>&1 && ls /usr/share/sounds/sf2/TimGM6mb.sf2 >/dev/null 2>&1 || \
		{ [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null || \
		  { echo "make: this run needs Debian packages: $(SYSTEM_PACKAGES); install them (apt-get install $(SYSTEM_PACKAGES)) and run make again" >&2; exit 1; }; \
		  $(SUDO) apt-get update -qq && \
		  $(SUDO) apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES); }

# Chromium and its driver: only the board page's browser test needs them
system-test: system
	@command -v chromedriver >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -qq && \
		  $(SUDO) apt-get install -y -qq --no-install-recommends $(TEST_PACKAGES); }

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first, from the exact version, so that no CUDA build is pulled in by a plain requirement
$(VENV)/.torch: | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH)
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.torch
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install $(RUN_NEEDS)
	$(BIN)/curvebench run $(RUN_ARGS)

test: install-dev system-test
	$(BIN)/python -m pytest -q

# The repository's leaderboard: the embedded models on the paper suite, submitted and built
board: install system
	rm -rf $(addprefix leaderboard/submissions/,$(addsuffix -*,$(BOARD_MODELS)))
	for m in $(BOARD_MODELS); do \
		$(BIN)/curvebench run --model $$m $(BOARD_ARGS) --out runs/board/$$m && \
		$(BIN)/curvebench leaderboard submit runs/board/$$m --board leaderboard || exit 1; \
	done
	for d in leaderboard/submissions/*/; do \
		$(BIN)/curvebench leaderboard verify $$d --record || exit 1; \
	done
	$(BIN)/curvebench leaderboard build --board leaderboard --readme README.md

lint: install-dev
	$(BIN)/ruff check curvebench tests scripts benchmarks examples
	$(BIN)/ruff format --check curvebench tests scripts benchmarks examples

clean:
	rm -rf $(VENV) runs *.egg-info

# Every measured table of README.md and docs/ rewritten from the committed run outputs
docs: install-dev
	$(BIN)/python scripts/docs.py
	$(BIN)/curvebench leaderboard build --board leaderboard --readme README.md

# The run outputs the documentation quotes, made again (cold caches; minutes on a CPU)
docs-runs: install-dev
	rm -rf docs/runs/default && mkdir -p docs/runs/default
	CURVEBENCH_CACHE=$$(mktemp -d) $(BIN)/curvebench run --task noise-at-5s --model reference \
		--limit 32 --out runs/docs-default --no-wandb | tee docs/runs/default/output.txt
	cp runs/docs-default/results.json docs/runs/default/results.json
	cp runs/docs-default/figures/noise-at-5s-*.png docs/
	$(BIN)/python scripts/busy_run.py 4 --task noise-at-5s --model reference --limit 32 \
		--out runs/docs-busy --no-wandb | tee docs/runs/busy.txt
	$(BIN)/python examples/train_with_callback.py | tee docs/runs/callback.txt

