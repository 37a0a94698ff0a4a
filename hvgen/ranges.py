"""Range checks of numeric options: one rule and one message shape for every command.

Typer turns 'nan', 'inf' and '1e9' into valid floats, and NaN compares false with everything, so a
check written `if value < 0` lets it through (and `json.dumps` then writes `NaN`, which is not
JSON). `check_range` accepts only a finite number inside the bounds, and refuses anything else
in one line naming the option, the valid range and the value given (and why, when that helps).

`Bounds` names a range once, so the command line (`hvgen.cli.numbers`, checked while the options
are parsed, before anything is imported, loaded or written) and the checks of config files and of
the Python API (`RunConfig.validate`, the commands' own functions) refuse the same values with the
same words.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

from hvgen.errors import HvgenError


def describe_range(
    low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False
) -> str:
    """'a finite number in [0, 1)', 'a finite number >= 1' ..., for messages and help texts."""
    if low is not None and high is not None:
        return f"a finite number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"a finite number {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"a finite number {'<' if high_open else '<='} {high:g}"
    return "a finite number"


def in_range(
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> bool:
    """Whether `value` is a finite int or float (not a bool) inside the bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if not math.isfinite(value):
        return False
    if low is not None and (value <= low if low_open else value < low):
        return False
    return not (high is not None and (value >= high if high_open else value > high))


def check_range(
    option: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    multiple_of: int | None = None,
    why: str = "",
) -> None:
    """Raise HvgenError unless `value` (None: the option was not given) is a finite number inside
    the bounds (a whole number with `integer`, a multiple of `multiple_of`). `option` is how the
    user spells it ('--fpr', or 'config.yaml: render.steps (--steps)')."""
    whole = not integer or (isinstance(value, int) and not isinstance(value, bool))
    aligned = multiple_of is None or (whole and isinstance(value, int) and value % multiple_of == 0)
    if value is None or (
        whole and aligned and in_range(value, low, high, low_open=low_open, high_open=high_open)
    ):
        return
    if multiple_of is not None and low is not None and high is not None:
        valid = f"a multiple of {multiple_of} from {int(low):,} to {int(high):,}"
    elif integer:
        first = None if low is None else int(low) + 1 if low_open else int(low)
        last = None if high is None else int(high) - 1 if high_open else int(high)
        valid = (
            f"a whole number from {first:,} to {last:,}"
            if first is not None and last is not None
            else f"a whole number >= {first:,}"
            if first is not None
            else f"a whole number <= {last:,}"
        )
    else:
        valid = describe_range(low, high, low_open=low_open, high_open=high_open)
    raise HvgenError(f"{option} must be {valid}{f' {why}' if why else ''}, got {value}.")


@dataclass(frozen=True)
class Bounds:
    """A valid range, named once and used by every place that checks the same setting."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    multiple_of: int | None = None
    why: str = ""

    def check(self, option: str, value: Any) -> None:
        check_range(
            option, value, self.low, self.high, low_open=self.low_open, high_open=self.high_open,
            integer=self.integer, multiple_of=self.multiple_of, why=self.why,
        )  # fmt: skip

    def parse(self, option: str, value: Any) -> Any:
        """`value` as typed on a command line ('8', '1e3', 'nan'), as a checked int or float."""
        if isinstance(value, str):
            value = _number(value.strip(), self.integer)
        self.check(option, value)
        return value

    def parser(self, option: str) -> Any:
        """A typer `parser=` for `option`: the range is checked while the command line is parsed,
        before the command imports, loads or writes anything."""
        return functools.partial(self.parse, option)


_EXACT_FLOATS = 2**53
"""Below this a float holds every whole number exactly: '1e6' may mean 1,000,000."""


def _number(text: str, integer: bool) -> Any:
    """The number `text` spells, or `text` itself (which `check_range` then refuses, quoted)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return repr(text)
    if integer and math.isfinite(number) and number.is_integer() and abs(number) < _EXACT_FLOATS:
        return int(number)
    return number


def whole(low: int, high: int | None = None, why: str = "") -> Bounds:
    """A whole number in [low, high]."""
    return Bounds(low, high, integer=True, why=why)


# ---------------------------------------------------------------- the ranges of hvgen's numbers

MAX_SEED = 2**63 - 1
"""Seeds are 63-bit (torch.Generator and DuckDB BIGINT hold them)."""
SEED = whole(0, MAX_SEED)
MAX_NUM = 100_000_000
"""The hard ceiling of --num (the plan of more would not fit a catalog on one disk); above
`hvgen.pipeline.MAX_NUM` it takes --force too."""
NUM = whole(1, MAX_NUM)
MAX_STEPS = 1000
STEPS = whole(1, MAX_STEPS, why="(denoising steps)")
GUIDANCE = Bounds(0, 100, why="(a classifier-free guidance scale; 0 turns guidance off)")
MIN_SIZE, MAX_SIZE = 64, 4096
IMAGE_SIZE = Bounds(
    MIN_SIZE, MAX_SIZE, integer=True, multiple_of=8, why="(the VAE works in blocks of 8 pixels)"
)
RENDER_BATCH = whole(1, 1024, why="(images per pipeline call)")
SEVERITY = whole(1, 5, why="(ImageNet-C severities)")
EPS = Bounds(0, 1, low_open=True, why="(an L-inf budget on the [0, 1] pixel scale)")
CLIP_THRESHOLD = Bounds(-100, 100, why="(a CLIP score, 100 x cosine; Dysca drops at 25)")
FIDELITY_THRESHOLD = Bounds(
    0, 1, why="(an agreement score: OKS, edge F1 or SSIM; images below it are dropped)"
)
MAX_SHARDS = 100_000
"""Most shards a run may be split into (a typo such as --workers 1000000 would submit that many jobs)."""
WORKERS = whole(1, MAX_SHARDS, why="(tasks at once)")
MAX_FORMS = 26
FORMS = whole(1, MAX_FORMS, why="(parallel forms, named form-a to form-z)")
SHARDS = whole(1, MAX_SHARDS, why="(shards)")
HAMMING = whole(0, 32, why="(bits of a 64-bit pHash)")
JUDGE_WORKERS = whole(1, 256, why="(requests in flight at once)")
QUALITY_BOOTSTRAP = whole(100, 100_000, why="(resamples per confidence interval; 2000 is the default)")
CONTAMINATION_BOOTSTRAP = whole(100, 1_000_000, why="(resamples per interval; 2000 is the default)")
ALPHA = Bounds(0, 0.5, low_open=True, why="(a test level)")
PREVIEW_NUM = whole(1, 10_000, why="(samples on one page)")
FPR = Bounds(
    0, 0.5, low_open=True, high_open=True, why="(the share of benign prompts --calibrate lets be flagged)"
)
FTT_THRESHOLD = Bounds(0, 1e6, why="(an FTT score: a mean distance, never negative)")
SIMILARITY = Bounds(-1, 1, why="(a cosine similarity of image embeddings)")
SCAN_BATCH = whole(1, 256, why="(prompts per pipeline call)")
ANNOTATE_BATCH = whole(1, 1024, why="(images per generate call)")
MAX_NEW_TOKENS = whole(1, 8192, why="(96 fits the prompt)")
TEMPERATURE = Bounds(0, 100, why="(0: greedy and deterministic; > 0: sampled, one seed per image)")
PER_LABEL = whole(1, 1_000_000, why="(faces per label value)")
FRAMES = whole(2, 1024, why="(frames per clip: 8 as FFDBackbone, 16 as S4D)")
MIN_AREA = whole(0, 100_000_000, why="(a box area w*h in pixels)")
GROUNDER_THRESHOLD = Bounds(0, 1, why="(the detector's score a box needs; 0: every phrase's best box)")
ANNOTATOR_TOKENS = whole(1, 8192, why="(the longest reply per aspect, in tokens)")
SCENE_PEOPLE = whole(1, 8, why="(people in one synthetic scene; HERM asks about 8 at most)")
POSE_CLUSTERS = whole(1, 1024, why="(poses to derive by k-means)")
