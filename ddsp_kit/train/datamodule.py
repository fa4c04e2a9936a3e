r"""The Lightning datamodule of paired recordings.

:class:`PairedDataModule` finds the pairs of a folder in one of the layouts of
:mod:`ddsp_kit.data.pairs` (or takes pair lists), and builds the train,
validation and test :class:`~ddsp_kit.data.PairedAudioDataset` splits.
Training crops are drawn anew each epoch: the training sampler's
``set_epoch``, which the Trainer calls at the start of every epoch, passes the
epoch to the training set (and reshuffles). With ``num_workers > 0`` workers
are created afresh each epoch (not persistent), so they see the new epoch.
"""

import logging
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import lightning
import torch

from ..data import (
    SPLITS,
    SYNTHETIC_DEVICES,
    Pair,
    PairedAudioDataset,
    cache_dir,
    format_report,
    plain_pairs,
    quality_report,
    render_synthetic,
    signaltrain_pairs,
    tonetwist_pairs,
)

__all__ = ["PairedDataModule", "SyntheticDataModule", "LAYOUTS", "EpochSampler"]

logger = logging.getLogger(__name__)

LAYOUTS = {"plain": plain_pairs, "tonetwist": tonetwist_pairs, "signaltrain": signaltrain_pairs}


class EpochSampler(torch.utils.data.DistributedSampler):
    """Shuffled indices of a :class:`~ddsp_kit.data.PairedAudioDataset` whose ``set_epoch``
    also draws the dataset's new crops; a ``DistributedSampler``, so under a distributed
    strategy each process takes its share and Lightning keeps it (and calls ``set_epoch``).

    Args:
        dataset: the training set.
        seed: seeds the shuffle, with the epoch (the same on every process).
        num_replicas: processes sharing the data (default 1, or the world size when
            ``torch.distributed`` is initialised).
        rank: this process's index among them.

    The permutation is padded by repetition to a multiple of ``num_replicas`` so every
    process runs the same number of steps (``DistributedSampler``'s rule).

    Example:
        >>> class Crops(list):
        ...     epoch = 0
        ...     def set_epoch(self, epoch): self.epoch = epoch
        >>> crops = Crops(range(5)); sampler = EpochSampler(crops, seed=1)
        >>> sampler.set_epoch(3); crops.epoch, sorted(sampler)
        (3, [0, 1, 2, 3, 4])
        >>> halves = [list(EpochSampler(crops, 1, num_replicas=2, rank=r)) for r in (0, 1)]
        >>> len(halves[0]), len(halves[1]), sorted(set(halves[0] + halves[1]))
        (3, 3, [0, 1, 2, 3, 4])
    """

    def __init__(self, dataset, seed: int = 0, num_replicas: Optional[int] = None, rank: Optional[int] = None):
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        if num_replicas is None:
            num_replicas = torch.distributed.get_world_size() if distributed else 1
        if rank is None:
            rank = torch.distributed.get_rank() if distributed else 0
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=False)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.dataset.set_epoch(epoch)


class PairedDataModule(lightning.LightningDataModule):
    r"""Train, validation and test splits of paired recordings, batched.

    Args:
        sample_rate: Hz, the rate of the recordings (see ``dataset_options`` to resample).
        segment_samples: samples of each training item that the loss sees.
        root: the folder holding the recordings (with ``layout``); or None with ``pairs``.
        layout: ``"plain"``, ``"tonetwist"`` or ``"signaltrain"`` (:mod:`ddsp_kit.data.pairs`).
        pairs: instead of ``root``: one list of :class:`~ddsp_kit.data.Pair`, split by
            ``split_by`` and ``fractions``, or a dict ``{"train": [...],
            "validation": [...], "test": [...]}`` of lists used whole (a split may be missing).
        warmup_samples: samples before each item's segment that the loss ignores.
        eval_segment_samples: segment of validation and test items (default
            ``segment_samples``; metrics need at least 400 ms).
        batch_size: items per batch.
        num_workers: data-loading processes (0: in the main process).
        split_by: ``"time"`` or ``"file"`` (see :class:`~ddsp_kit.data.PairedAudioDataset`).
        fractions: train, validation and test fractions.
        seed: seeds the file split, the training crops and the shuffle.
        layout_options: further arguments of the layout function (e.g. ToneTwist ``knob_names``).
        dataset_options: further :class:`~ddsp_kit.data.PairedAudioDataset` arguments
            (``compensate_lag``, ``max_lag``, ``resample``, ``trim``).

    Example:
        >>> from ddsp_kit.data import Pair
        >>> dm = PairedDataModule(16000, 4096, pairs={"train": [Pair("a.input.wav", "a.target.wav")]})
        >>> dm.eval_segment_samples, dm.batch_size
        (4096, 8)
    """

    def __init__(
        self,
        sample_rate: float,
        segment_samples: int,
        root: Optional[str] = None,
        layout: str = "plain",
        pairs: Union[None, Sequence[Pair], Mapping[str, Sequence[Pair]]] = None,
        warmup_samples: int = 0,
        eval_segment_samples: Optional[int] = None,
        batch_size: int = 8,
        num_workers: int = 0,
        split_by: str = "time",
        fractions: Tuple[float, float, float] = (0.6, 0.2, 0.2),
        seed: int = 0,
        layout_options: Optional[Mapping[str, Any]] = None,
        dataset_options: Optional[Mapping[str, Any]] = None,
    ):
        super().__init__()
        if (root is None) == (pairs is None):
            raise ValueError("give exactly one of root (a folder, with layout) and pairs")
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {sorted(LAYOUTS)}, got {layout!r}")
        if isinstance(pairs, Mapping):
            unknown = sorted(set(pairs) - set(SPLITS))
            if unknown or not pairs:
                raise ValueError(f"pairs by split takes keys among {SPLITS}, got {sorted(pairs)}")
        for name, value, low in (("batch_size", batch_size, 1), ("num_workers", num_workers, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        self.sample_rate, self.root, self.layout, self.pairs = sample_rate, root, layout, pairs
        self.segment_samples, self.warmup_samples = segment_samples, warmup_samples
        self.eval_segment_samples = segment_samples if eval_segment_samples is None else eval_segment_samples
        self.batch_size, self.num_workers = batch_size, num_workers
        self.split_by, self.fractions, self.seed = split_by, tuple(fractions), seed
        self.layout_options, self.dataset_options = dict(layout_options or {}), dict(dataset_options or {})
        self.datasets: Dict[str, PairedAudioDataset] = {}
        self.quality: Optional[str] = None

    def _dataset(self, split: str) -> Optional[PairedAudioDataset]:
        """The split's dataset, or None for a split missing from pairs given by split."""
        segment = self.segment_samples if split == "train" else self.eval_segment_samples
        options = dict(
            sample_rate=self.sample_rate, segment_samples=segment, warmup_samples=self.warmup_samples,
            split=split, seed=self.seed, **self.dataset_options,
        )
        if isinstance(self.pairs, Mapping):
            if not self.pairs.get(split):
                return None
            whole = tuple(float(s == split) for s in SPLITS)  # every pair's whole length in this split
            return PairedAudioDataset(self.pairs[split], split_by="time", fractions=whole, **options)
        pairs = self.pairs if self.pairs is not None else LAYOUTS[self.layout](self.root, **self.layout_options)
        return PairedAudioDataset(pairs, split_by=self.split_by, fractions=self.fractions, **options)

    def setup(self, stage: Optional[str] = None) -> None:
        """Build the datasets the stage needs (``fit``: train and validation; ``validate``;
        ``test`` and ``predict``: test).

        The training set's data-quality report (:func:`~ddsp_kit.data.format_report`)
        is logged at INFO level and kept in ``quality``.
        """
        wanted = {"fit": ("train", "validation"), "validate": ("validation",), "test": ("test",), "predict": ("test",)}
        for split in wanted.get(stage, SPLITS):
            if split not in self.datasets:
                dataset = self._dataset(split)
                if dataset is not None:
                    self.datasets[split] = dataset
        if "train" in self.datasets and self.quality is None:
            self.quality = format_report(quality_report(self.datasets["train"]))
            logger.info("data-quality report of the training split:\n%s", self.quality)

    def _loader(self, split: str, **options):
        """The split's loader; ``[]`` (no loader) for a split missing from pairs given by split."""
        if split not in self.datasets:
            if isinstance(self.pairs, Mapping):
                return []
            raise ValueError(f"no {split} data: call setup() first")
        return torch.utils.data.DataLoader(
            self.datasets[split], batch_size=self.batch_size, num_workers=self.num_workers, **options
        )

    def train_dataloader(self):
        dataset = self.datasets.get("train")
        return self._loader("train", sampler=EpochSampler(dataset, self.seed)) if dataset is not None else self._loader("train")

    def val_dataloader(self):
        return self._loader("validation")

    def test_dataloader(self):
        return self._loader("test")

    def predict_dataloader(self):
        """The test split, in order (``ddsp-kit predict`` writes the model's output for it)."""
        return self._loader("test")


class SyntheticDataModule(PairedDataModule):
    r"""The built-in dataset: synthetic music through a reference effect, rendered on first use.

    :func:`~ddsp_kit.data.render_synthetic` writes one pair into
    ``root/<device>/`` (default root: :func:`~ddsp_kit.data.cache_dir`), split by
    time into train, validation and test spans; no download.

    Args:
        sample_rate: Hz.
        segment_samples: samples of each training item that the loss sees.
        device: a key of :data:`~ddsp_kit.data.SYNTHETIC_DEVICES`.
        seconds: length of the rendered pair.
        render_seed: seeds the synthetic input.
        root: cache folder of the renders.
        warmup_samples, eval_segment_samples, batch_size, num_workers, fractions, seed,
            dataset_options: as :class:`PairedDataModule`.

    Example:
        >>> import tempfile
        >>> dm = SyntheticDataModule(16000, 4096, seconds=6.0, root=tempfile.mkdtemp(), eval_segment_samples=8000)
        >>> dm.setup("fit"); len(dm.datasets["train"]), len(dm.datasets["validation"])  # 3.6 s / 4096, 1.2 s / 8000
        (14, 2)
    """

    def __init__(
        self,
        sample_rate: float = 48000,
        segment_samples: int = 8192,
        device: str = "overdrive",
        seconds: float = 60.0,
        render_seed: int = 0,
        root: Optional[str] = None,
        warmup_samples: int = 0,
        eval_segment_samples: Optional[int] = None,
        batch_size: int = 8,
        num_workers: int = 0,
        fractions: Tuple[float, float, float] = (0.6, 0.2, 0.2),
        seed: int = 0,
        dataset_options: Optional[Mapping[str, Any]] = None,
    ):
        if device not in SYNTHETIC_DEVICES:
            raise ValueError(f"device must be one of {sorted(SYNTHETIC_DEVICES)}, got {device!r}")
        super().__init__(
            sample_rate, segment_samples, root=str(Path(root or cache_dir() / "synthetic") / device),
            warmup_samples=warmup_samples, eval_segment_samples=eval_segment_samples, batch_size=batch_size,
            num_workers=num_workers, split_by="time", fractions=fractions, seed=seed, dataset_options=dataset_options,
        )
        self.device, self.seconds, self.render_seed = device, seconds, render_seed

    def prepare_data(self) -> None:
        """Render the pair unless a matching render is cached."""
        render_synthetic(self.root, self.device, self.sample_rate, self.seconds, self.render_seed)

    def setup(self, stage: Optional[str] = None) -> None:
        self.prepare_data()  # a no-op once rendered; lets the module be used without a Trainer
        super().setup(stage)
