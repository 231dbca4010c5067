"""Stage settings: one frozen dataclass per config section, the one place their defaults live.

Each class mirrors ``workflow/schemas/stages/<stage>.schema.yaml`` field by field, with the
schema's defaults (``tests/test_settings.py`` compares every field's default with the schema, for
every stage, and fails on a field or a key that one side lacks). The stages that use the
top-level keys ``seed`` and ``device`` carry them as fields too, with the top-level schema's
defaults. Library functions take these objects whole (``train_classifier(ds, spec, TrainConfig())``),
so a user calling the library gets the workflow's behaviour; scripts build them with
:meth:`StageConfig.from_section` from the validated section:

    cfg = TrainConfig.from_section(snakemake.params.train, seed=snakemake.params.seed,
                                   device=snakemake.params.device)

A key the class does not know raises :class:`~skelvis.errors.ConfigError` naming it (nothing is
dropped silently). Lists become tuples (the objects are frozen and hashable where their values are).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, ClassVar

from .errors import ConfigError

__all__ = [
    "STAGES",
    "TOP_LEVEL_KEYS",
    "ActivationsConfig",
    "AttributionConfig",
    "AutoencoderConfig",
    "DatasetConfig",
    "EvaluateConfig",
    "MaximizeConfig",
    "NotebooksConfig",
    "PeriodsConfig",
    "SaliencyConfig",
    "StageConfig",
    "TrainConfig",
    "ViewerConfig",
]

#: top-level config keys a stage's settings may carry besides its own section
TOP_LEVEL_KEYS = ("seed", "device")
SPLITS = ("train", "validation", "test")


def _frozen_value(v):
    if isinstance(v, list):
        return tuple(_frozen_value(x) for x in v)
    return v


@dataclass(frozen=True)
class StageConfig:
    """Base of the stage settings; ``stage`` is the config section (and schema file) name."""

    stage: ClassVar[str] = ""

    @classmethod
    def from_section(cls, section: Mapping[str, Any] | None = None, **top_level: Any):
        """Build from a config section (missing keys take the defaults) and top-level keys.

        Raises :class:`ConfigError` naming ``<stage>.<key>`` for a key this stage does not have.
        """
        names = {f.name for f in fields(cls)}
        section = dict(section or {})
        unknown = [k for k in section if k not in names or k in TOP_LEVEL_KEYS]
        if unknown:
            allowed = sorted(n for n in names if n not in TOP_LEVEL_KEYS)
            raise ConfigError(f"config key '{cls.stage}.{unknown[0]}': unknown key (misspelled?); "
                              f"allowed here: {allowed}")
        extra = [k for k in top_level if k not in names]
        if extra:
            raise ConfigError(f"config key '{extra[0]}' is not used by the {cls.stage} stage "
                              f"(it takes {[k for k in TOP_LEVEL_KEYS if k in names]} besides its section)")
        kw = {k: _frozen_value(v) for k, v in {**section, **top_level}.items()}
        return cls(**kw)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]):
        """Build from a whole (validated) config: its ``<stage>`` section and the top-level keys."""
        names = {f.name for f in fields(cls)}
        return cls.from_section(config.get(cls.stage) or {},
                                **{k: config[k] for k in TOP_LEVEL_KEYS if k in names and k in config})

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Field name -> default value (the schema's)."""
        out = {}
        for f in fields(cls):
            out[f.name] = f.default_factory() if f.default is MISSING else f.default
        return out

    def replace(self, **changes):
        """A copy with ``changes`` (unknown names raise :class:`ConfigError`)."""
        bad = [k for k in changes if k not in {f.name for f in fields(self)}]
        if bad:
            raise ConfigError(f"config key '{self.stage}.{bad[0]}': unknown key")
        return replace(self, **{k: _frozen_value(v) for k, v in changes.items()})


@dataclass(frozen=True)
class TrainConfig(StageConfig):
    """Training (Patil et al. §4: Adam with step decay); section ``train``."""

    stage: ClassVar[str] = "train"
    epochs: int = 25
    batch_size: int = 32
    lr: float = 0.005
    lr_decay_epochs: int = 15
    lr_decay_factor: float = 10
    weight_decay: float = 0.0
    grad_clip: float = 5.0
    validation_fraction: float = 0.0
    memory_budget_mb: int = 256
    seed: int = 0
    device: str = "auto"


@dataclass(frozen=True)
class EvaluateConfig(StageConfig):
    """Evaluation of a trained model; section ``evaluate``."""

    stage: ClassVar[str] = "evaluate"
    confusion_split: str = "test"


@dataclass(frozen=True)
class NotebooksConfig(StageConfig):
    """Settings shared by the papermill notebooks; section ``notebooks``."""

    stage: ClassVar[str] = "notebooks"
    strip_frames: int = 6
    max_sequences: int = 2000


@dataclass(frozen=True)
class SaliencyConfig(StageConfig):
    """Joint sensitivity (Patil et al. Eq. 1-5) and its faithfulness; section ``saliency``."""

    stage: ClassVar[str] = "saliency"
    enabled: bool = True
    mode: str = "local"
    units_per_class: int = 2
    units: tuple[int, ...] = ()
    keep_unit_maps: str | int = "all"
    normalize: bool = True
    std_floor: float = 0.01
    chunk_size: int = 0
    faithfulness_split: str = "held_out"
    deletion_random_orders: int = 3
    deletion_max_sequences: int = 2000
    seed: int = 0
    device: str = "auto"


@dataclass(frozen=True)
class AttributionConfig(StageConfig):
    """Attribution methods compared on ground truth, perturbation, randomisation and stability
    (:mod:`skelvis.attribution`); section ``attribution``."""

    stage: ClassVar[str] = "attribution"
    enabled: bool = True
    methods: tuple[str, ...] = ("local", "through_time", "gradient_x_input", "integrated_gradients",
                                "integrated_gradients_zeros", "smoothgrad", "occlusion", "limb_occlusion", "lrp",
                                "random")
    split: str = "held_out"
    sequences: int = 32
    shortcut_sequences: int = 12
    second_seed: bool = True
    integrated_gradients_steps: int = 16
    smoothgrad_samples: int = 16
    smoothgrad_noise: float = 0.1
    sensor_noise: float = 0.008
    sensitivity_samples: int = 3
    occlusion_window: int = 16
    random_orders: int = 3
    faithfulness_subsets: int = 24
    faithfulness_subset_size: int = 5
    lrp_epsilon: float = 0.001
    bootstrap_resamples: int = 1000
    seed: int = 0
    device: str = "auto"


@dataclass(frozen=True)
class MaximizeConfig(StageConfig):
    """Anatomically constrained activation maximisation (Patil et al. §3.2); section ``maximize``."""

    stage: ClassVar[str] = "maximize"
    enabled: bool = True
    gradient: str = "through_time"
    iterations: int = 12
    step_size: float = 0.05
    normalize_step: bool = True
    classes: tuple[str, ...] = ()
    second_sequence_classes: tuple[str, ...] = ("throw",)
    hidden_units: int = 3
    hidden_layer: int = -1
    split: str = "validation"
    infeasible_start: str = "repair"
    constraints: str = "paper"
    angle_limits: dict[str, tuple[float, float]] = field(default_factory=dict)
    floor: bool = False
    support_tolerance: float = 0.2
    max_acceleration: float = 0
    refine_iterations: int = 3
    comparison: bool = True
    penalty_weights: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0)
    seed: int = 0
    device: str = "auto"


@dataclass(frozen=True)
class ActivationsConfig(StageConfig):
    """Hidden states of every sample; section ``activations``."""

    stage: ClassVar[str] = "activations"
    enabled: bool = True
    layer: int = -1
    batch_size: int = 128
    device: str = "auto"


@dataclass(frozen=True)
class AutoencoderConfig(StageConfig):
    """Denoising-autoencoder projections (Tempczyk and Bartołd) and notebook 04; section ``autoencoder``."""

    stage: ClassVar[str] = "autoencoder"
    enabled: bool = True
    hidden_layers: tuple[int, ...] = (600, 150)
    noise: float = 0.1
    lr: float = 0.002
    batch_size: int = 256
    max_epochs: int = 30
    patience: int = 4
    validation_fraction: float = 0.2
    max_vectors: int = 10000
    redundant_threshold: float = 0.001
    redundant_scope: str = "ends"
    quality_neighbors: int = 10
    quality_max_points: int = 2000
    pairs_from_confusion: int = 2
    pairs_from_proximity: int = 2
    body_part_ratio: float = 0.5
    animate_sample: str = ""
    gif_fps: int = 8
    seed: int = 0
    device: str = "auto"

    #: the fields a resumed training run must share with its checkpoint
    TRAINING_KEYS: ClassVar[tuple[str, ...]] = ("hidden_layers", "noise", "lr", "batch_size", "max_epochs",
                                                "patience", "validation_fraction", "seed")


@dataclass(frozen=True)
class PeriodsConfig(StageConfig):
    """Highly activated periods and unit relevance (Cho et al. 2020); section ``periods``."""

    stage: ClassVar[str] = "periods"
    enabled: bool = True
    layer: int = -1
    quantile: float = 0.9
    min_length: int = 3
    splits: tuple[str, ...] = SPLITS
    max_sequences: int = 2000
    resample_length: int = 16
    n_clusters: int = 4
    min_periods: int = 8
    n_units: int = 4
    epsilon: float = 0.001
    mc_samples: int = 30
    mc_dropout: float = 0.1
    seed: int = 0


@dataclass(frozen=True)
class ViewerConfig(StageConfig):
    """The SkeletonVis page's data reduction; section ``viewer``."""

    stage: ClassVar[str] = "viewer"
    enabled: bool = True
    sequences_per_class: int = 3
    splits: tuple[str, ...] = ("validation", "test")
    max_units: int = 8
    title: str = "SkeletonVis"
    encoding: str = "quantized"
    methods: tuple[str, ...] = ("local", "integrated_gradients", "limb_occlusion", "through_time")

    def __post_init__(self):
        if len(set(self.methods)) != len(self.methods):
            raise ConfigError(f"config key 'viewer.methods' names a method twice: {list(self.methods)}")
        if self.sequences_per_class < 1:
            raise ConfigError(f"config key 'viewer.sequences_per_class' must be >= 1, got {self.sequences_per_class}")
        if self.max_units < 0:
            raise ConfigError(f"config key 'viewer.max_units' must be >= 0, got {self.max_units}")
        if self.encoding not in ("quantized", "float32"):
            raise ConfigError(f"config key 'viewer.encoding' must be 'quantized' or 'float32', got {self.encoding!r}")
        bad = [s for s in self.splits if s not in SPLITS]
        if bad or not self.splits:
            raise ConfigError(f"config key 'viewer.splits' must name some of {list(SPLITS)}, got {list(self.splits)}")


@dataclass(frozen=True)
class DatasetConfig(StageConfig):
    """One dataset's source and preparation (``data.<name>``, workflow/schemas/dataset.schema.yaml);
    the reader options (``ntu``, ``sysu`` ...) stay dicts that each reader reads."""

    stage: ClassVar[str] = "data.<dataset>"
    source: str = "synthetic"
    url: str = ""
    sha256: str = "FILL_ME"
    path: str = ""
    obtain: str = ""
    retries: int = 3
    downloads: dict[str, Any] = field(default_factory=dict)
    reader: str = "synthetic"
    normalization: str = "ntu"
    max_frames: int = 64
    ntu: dict[str, Any] = field(default_factory=dict)
    msr_action3d: dict[str, Any] = field(default_factory=dict)
    sysu: dict[str, Any] = field(default_factory=dict)
    auslan: dict[str, Any] = field(default_factory=dict)
    generic: dict[str, Any] = field(default_factory=dict)
    synthetic: dict[str, Any] = field(default_factory=dict)


#: stage name -> its settings class (every file in workflow/schemas/stages/ has one)
STAGES: dict[str, type] = {c.stage: c for c in (TrainConfig, EvaluateConfig, NotebooksConfig, SaliencyConfig,
                                                 MaximizeConfig, ActivationsConfig, AutoencoderConfig,
                                                 PeriodsConfig, ViewerConfig, AttributionConfig)}
