"""
Training runs: schedule, checkpoints, resume, logs and export.

A run lives in one directory::

    RUN/
      training_config.json   what is trained, on what data, how
      state.json             the step reached, the stage, the wall time
      checkpoints/           model and optimizer state (tf.train)
      logs/                  TensorBoard logs
      model/                 the exported model, once the run is done
      evaluation.ecsv        galseg next to photutils on validation data
"""

import dataclasses
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from ..utils import atomic_output, relative_command, relative_paths
from ..validation import (check_bool, check_choice, check_fraction, check_int,
                          check_number, check_range)

__all__ = ['TrainingConfig', 'TrainingStage', 'train', 'TrainingRun',
           'transfer_weights',
           'STRATEGIES', 'OPTIMIZERS']

STRATEGIES = ('default', 'mirrored', 'multiworker')
OPTIMIZERS = ('adamw', 'adam', 'sgd')
_LR_SCHEDULES = ('constant', 'cosine')
_RUN_FILES = ('training_config.json', 'state.json', 'checkpoints', 'logs',
              'model', 'evaluation.ecsv', 'plots')


@dataclasses.dataclass(frozen=True)
class TrainingStage:
    """
    One stage of the training schedule.

    Parameters
    ----------
    trainable : {'heads', 'all'}
        Which layers train: ``'heads'`` freezes the ResNet backbone.
    epochs : float
        Passes over the training scenes.
    learning_rate : float
        Peak learning rate of the stage.
    """

    trainable: str
    epochs: float
    learning_rate: float

    def __post_init__(self):
        check_choice('stage trainable', self.trainable, ('heads', 'all'))
        epochs = check_number('stage epochs', self.epochs)
        if epochs <= 0:
            msg = f'stage epochs must be a positive number, got {epochs}'
            raise ValueError(msg)
        check_fraction('stage learning_rate', self.learning_rate,
                       low_open=True, high_open=True)

    @classmethod
    def parse(cls, text):
        """Parse ``'trainable:epochs:learning_rate'``, e.g. ``'all:20:5e-4'``."""
        parts = text.split(':')
        if len(parts) != 3:
            msg = ("a stage is written 'trainable:epochs:learning_rate', "
                   f'got {text!r}')
            raise ValueError(msg)
        try:
            return cls(parts[0], float(parts[1]), float(parts[2]))
        except ValueError as exc:
            if 'stage' in str(exc):
                raise
            msg = f'cannot read the numbers of stage {text!r}'
            raise ValueError(msg) from None


#: The original study's schedule: heads 15 epochs at 1e-3, then all
#: layers 20 epochs at 5e-4.
STUDY_STAGES = (TrainingStage('heads', 15, 1e-3),
                TrainingStage('all', 20, 5e-4))


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """
    How to train a model.

    Parameters
    ----------
    model : dict
        `~galseg.engine.MaskRCNNConfig` fields; ``n_bands`` is taken
        from the data.
    batch_size : int
        Images per training step (over all replicas).
    stages : tuple of `TrainingStage`
        The schedule; by default the study's two stages (heads, then
        all layers).  A ``'heads'`` stage freezes the backbone only when
        the run starts from a trained model (``init_model``): a randomly
        initialised backbone would stay random, so without
        ``init_model`` every stage trains all layers.
    optimizer : {'adamw', 'adam', 'sgd'}
        The optimizer (SGD with Nesterov momentum ``momentum``).
    weight_decay : float
        Decoupled weight decay (AdamW and SGD).
    momentum : float
        SGD momentum.
    warmup_steps : int
        Linear learning-rate warm-up at the start of each stage.
    lr_schedule : {'constant', 'cosine'}
        After warm-up: constant, or cosine decay to 5 percent.
    clipnorm : float
        Global gradient-norm clipping (0 for none).
    augment : bool
        Random flips and 90-degree rotations.
    fresh_noise : bool
        A new noise realisation each time a scene is used, from the
        simulator's noise model (`galseg.simulate.add_noise`).
    deep_fraction : float
        The fraction of training examples shown as in a much deeper
        image, so that the network also learns sources far brighter
        than the simulation's signal-to-noise range (bright galaxies
        and stars, deep coadds, noiseless images): their fresh noise is
        scaled by a factor drawn log-uniformly in ``deep_noise_scale``
        and their truth footprints drawn again at that noise (see
        ``noise_scale`` in `~galseg.train.pipeline.scene_to_example`).
        Needs ``fresh_noise``; 0 (the default) for none.
    deep_noise_scale : (float, float)
        The range, in (0, 1], of the deep examples' noise scale.
    noiseless_fraction : float
        The fraction of the deep examples shown noiseless instead, their
        footprints drawn at the noise the normalisation estimates in
        them (``noise_scale`` 0 in
        `~galseg.train.pipeline.scene_to_example`): simulated images,
        test fixtures and models are often noiseless, and a network that
        never saw one answers them with detections spanning the tile.
        0 (the default) for none.
    deep_exclusive : bool
        Give each pixel of a deep example's footprints to the brightest
        source there only: footprints drawn at a much lower noise reach
        far beyond a source's neighbours, so that the footprints (and
        boxes) of a close pair would otherwise be nearly the same.
    exclusive_footprints : bool
        Give each pixel of every example's footprints, training and
        validation alike, to the brightest source there only, so that
        the network learns disjoint masks, as the segments of the
        deblended segmentation image are: the fainter member of a close
        pair gets its own mask instead of one that lies inside its
        neighbour's.  The validation loss is then measured against
        those footprints too.
    footprint_core : float
        With exclusive footprints (``exclusive_footprints`` or
        ``deep_exclusive``), each source keeps the pixels of its own
        footprint within this many PSF FWHM of its brightest pixel
        (``footprint_core`` in
        `~galseg.train.pipeline.scene_to_example`); 0 (the default) for
        none.
    checkpoint_every : int
        Steps between checkpoints (there is one at each epoch end too).
    log_every : int
        Steps between TensorBoard entries.
    seed : int
        Seeds the weights, the data order and the augmentation.
    val_scenes : int
        Validation scenes for the per-epoch validation loss.
    eval_scenes : int
        Validation scenes for the final evaluation against photutils
        (0 to skip it).
    strategy : {'default', 'mirrored', 'multiworker'}
        The `tf.distribute` strategy: one device, all local GPUs
        (``MirroredStrategy``), or several machines
        (``MultiWorkerMirroredStrategy``, configured by ``TF_CONFIG``).
    mixed_precision : bool
        Compute in bfloat16 (float32 weights): for GPUs and for CPUs
        with AVX512-BF16 or AMX; other CPUs emulate it, slowly.
    init_model : str or None
        A model directory (or run) whose weights start the training: all
        of them, or, when the number of classes differs, all but the
        class-specific output layers (see `transfer_weights`).
    restore_best_weights : bool
        Export the weights of the epoch with the lowest validation loss
        (kept in the run directory as ``best-<step>.weights.h5``), not
        the last ones, as Keras' ``EarlyStopping(restore_best_weights=
        True)`` does.  The model card records the step exported.
    """

    model: dict = dataclasses.field(default_factory=dict)
    batch_size: int = 8
    stages: tuple = STUDY_STAGES
    optimizer: str = 'adamw'
    weight_decay: float = 1e-4
    momentum: float = 0.9
    warmup_steps: int = 100
    lr_schedule: str = 'constant'
    clipnorm: float = 5.0
    augment: bool = True
    fresh_noise: bool = False
    deep_fraction: float = 0.0
    deep_noise_scale: tuple = (1e-4, 1.0)
    noiseless_fraction: float = 0.0
    deep_exclusive: bool = False
    exclusive_footprints: bool = False
    footprint_core: float = 0.0
    checkpoint_every: int = 200
    log_every: int = 20
    seed: int = 0
    val_scenes: int = 256
    eval_scenes: int = 200
    strategy: str = 'default'
    mixed_precision: bool = False
    init_model: str = None
    restore_best_weights: bool = False

    def __post_init__(self):
        stages = tuple(stage if isinstance(stage, TrainingStage)
                       else TrainingStage(**stage) for stage in self.stages)
        if not stages:
            msg = 'stages must hold at least one stage'
            raise ValueError(msg)
        object.__setattr__(self, 'stages', stages)
        if not isinstance(self.model, dict):
            msg = f'model must be a dict, got {type(self.model).__name__}'
            raise TypeError(msg)
        for name in ('batch_size', 'checkpoint_every', 'log_every'):
            object.__setattr__(self, name, check_int(name, getattr(self, name),
                                                     minimum=1))
        for name in ('warmup_steps', 'seed', 'val_scenes', 'eval_scenes'):
            object.__setattr__(self, name, check_int(name, getattr(self, name),
                                                     minimum=0))
        for name, choices in (('optimizer', OPTIMIZERS),
                              ('strategy', STRATEGIES),
                              ('lr_schedule', _LR_SCHEDULES)):
            check_choice(name, getattr(self, name), choices)
        for name in ('augment', 'fresh_noise', 'mixed_precision',
                     'restore_best_weights', 'deep_exclusive',
                     'exclusive_footprints'):
            check_bool(name, getattr(self, name))
        object.__setattr__(self, 'deep_fraction', check_fraction(
            'deep_fraction', self.deep_fraction))
        object.__setattr__(self, 'noiseless_fraction', check_fraction(
            'noiseless_fraction', self.noiseless_fraction))
        object.__setattr__(self, 'deep_noise_scale', check_range(
            'deep_noise_scale', self.deep_noise_scale, 0, 1,
            lower_open=True))
        object.__setattr__(self, 'footprint_core', check_number(
            'footprint_core', self.footprint_core, minimum=0))
        if self.footprint_core > 0 and not (self.exclusive_footprints
                                            or self.deep_exclusive):
            msg = ('footprint_core > 0 needs exclusive_footprints or '
                   'deep_exclusive: it keeps a core out of exclusive '
                   'footprints')
            raise ValueError(msg)
        if self.noiseless_fraction > 0 and self.deep_fraction == 0:
            msg = ('noiseless_fraction > 0 needs deep_fraction > 0: it is '
                   'a fraction of the deep examples')
            raise ValueError(msg)
        if self.deep_fraction > 0 and not self.fresh_noise:
            msg = ('deep_fraction > 0 needs fresh_noise: the deep examples '
                   'get a new, scaled noise realisation')
            raise ValueError(msg)
        for name in ('weight_decay', 'momentum', 'clipnorm'):
            if check_number(name, getattr(self, name)) < 0:
                msg = (f'{name} must be a non-negative number, got '
                       f'{getattr(self, name)!r}')
                raise ValueError(msg)

    def model_config(self, n_bands):
        """The `~galseg.engine.MaskRCNNConfig` of the model to train."""
        from ..engine.config import MaskRCNNConfig

        return MaskRCNNConfig.from_dict({**self.model, 'n_bands': n_bands})

    def to_dict(self):
        """The configuration as a JSON-serialisable dict."""
        values = dataclasses.asdict(self)
        values['stages'] = [dataclasses.asdict(stage)
                            for stage in self.stages]
        return values

    @classmethod
    def from_dict(cls, values):
        """Make a configuration from a dict, as written by `to_dict`."""
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            msg = f'unknown TrainingConfig fields: {unknown}'
            raise ValueError(msg)
        return cls(**values)

    @classmethod
    def from_file(cls, path):
        """Read a configuration from a JSON or TOML file."""
        path = Path(path)
        if not path.is_file():
            msg = f'training config file {path} not found'
            raise FileNotFoundError(msg)
        if path.suffix == '.toml':
            import tomllib

            values = tomllib.loads(path.read_text())
        else:
            try:
                values = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                msg = f'{path} is not valid JSON: {exc}'
                raise ValueError(msg) from None
        return cls.from_dict(values)


@dataclasses.dataclass
class TrainingRun:
    """
    What `train` did.

    Attributes
    ----------
    directory : `~pathlib.Path`
        The run directory.
    step : int
        Training steps done (over all sessions of the run).
    total_steps : int
        Steps of the whole schedule.
    finished : bool
        Whether the schedule was completed and the model exported.
    wall_time : float
        Seconds spent training, over all sessions.
    evaluation : `~astropy.table.Table` or None
        The final evaluation table.
    """

    directory: Path
    step: int
    total_steps: int
    finished: bool
    wall_time: float
    evaluation: object = None

    @property
    def model_directory(self):
        """Where the exported model is."""
        return self.directory / 'model'


def _write_json(path, values, overwrite=True):
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(values, indent=2, default=str) + '\n')


def _prepare_run(out, config, data_paths, resume, overwrite):
    """Create, reuse or refuse the run directory; return the config
    the run uses."""
    out = Path(out)
    config_path = out / 'training_config.json'
    if resume:
        if not config_path.exists():
            msg = f'{out} holds no training run to resume'
            raise FileNotFoundError(msg)
        saved = json.loads(config_path.read_text())
        if saved['data'] != data_paths:
            msg = (f'the run in {out} was trained on {saved["data"]}, not '
                   f'on {data_paths}')
            raise ValueError(msg)
        saved_config = TrainingConfig.from_dict(saved['training'])
        if config is not None and config != saved_config:
            msg = (f'the run in {out} was started with another training '
                   'configuration; resume it without changing it')
            raise ValueError(msg)
        return saved_config
    existing = [name for name in _RUN_FILES if (out / name).exists()]
    if existing:
        if not overwrite:
            msg = (f'{out} already holds a training run ({existing[0]}); '
                   'use resume (--resume) to continue it or overwrite '
                   '(--overwrite) to start again')
            raise FileExistsError(msg)
        for name in existing:
            path = out / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    config = config or TrainingConfig()
    out.mkdir(parents=True, exist_ok=True)
    _write_json(config_path, {'training': config.to_dict(),
                              'data': data_paths})
    return config


def _make_strategy(name):
    import tensorflow as tf

    if name == 'mirrored':
        return tf.distribute.MirroredStrategy()
    if name == 'multiworker':
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _learning_rate(stage, config, stage_steps):
    """Linear warm-up to the stage's rate, then constant (``alpha=1``) or
    a cosine decay to 5 percent of it."""
    import keras

    warmup = min(config.warmup_steps, max(stage_steps // 4, 1))
    peak = stage.learning_rate
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak / warmup,
        decay_steps=max(stage_steps - warmup, 1),
        alpha=0.05 if config.lr_schedule == 'cosine' else 1.0,
        warmup_target=peak, warmup_steps=warmup)


def _make_optimizer(stage, config, stage_steps):
    import keras

    learning_rate = _learning_rate(stage, config, stage_steps)
    clip = {'global_clipnorm': config.clipnorm} if config.clipnorm else {}
    if config.optimizer == 'sgd':
        return keras.optimizers.SGD(learning_rate, momentum=config.momentum,
                                    nesterov=True,
                                    weight_decay=config.weight_decay or None,
                                    **clip)
    if config.optimizer == 'adam':
        return keras.optimizers.Adam(learning_rate, **clip)
    return keras.optimizers.AdamW(learning_rate,
                                  weight_decay=config.weight_decay, **clip)


def _stage_bounds(config, steps_per_epoch):
    """First step of each stage, and the total, as a list."""
    bounds = [0]
    for stage in config.stages:
        bounds.append(bounds[-1] + max(1, round(stage.epochs
                                                * steps_per_epoch)))
    return bounds


def _model_card(run_dir, config, model_config, data_info, state,
                evaluation):
    import keras
    import tensorflow as tf

    from .. import __version__

    card = {
        'name': run_dir.name,
        'galseg_version': __version__,
        'galseg_git_commit': _git_commit(),
        'versions': _versions(keras.__version__, tf.__version__),
        'paths': 'relative to the directory the commands ran in',
        'commands': state['commands'],
        'training': config.to_dict(),
        'model': model_config.to_dict(),
        'data': data_info,
        'seed': config.seed,
        'steps': state['step'],
        'images_seen': state['step'] * config.batch_size,
        'wall_time_s': round(state['wall_time'], 1),
        'sessions': state['sessions'],
        'validation_loss': state.get('val_loss', {}),
        'exported_step': state.get('exported_step', state['step']),
    }
    card = relative_paths(card, Path.cwd())
    card['commands'] = [relative_command(command, Path.cwd())
                        for command in card['commands']]
    if config.init_model:
        # the card of the model it started from, as that card was written
        card['init_model_card'] = _init_model_card(config.init_model)
        card['init_fresh_layers'] = state.get('init_fresh_layers', [])
    if evaluation is not None:
        card['evaluation'] = {
            'scenes': int(evaluation['n_images'][0]),
            'methods': {row['method']: {name: _plain(row[name])
                                        for name in evaluation.colnames
                                        if name != 'method'}
                        for row in evaluation}}
    return card


#: MaskRCNNConfig fields that shape the network's weights, except the
#: number of classes (whose layers start afresh when it changes)
_ARCHITECTURE_FIELDS = ('backbone', 'backbone_width', 'n_bands', 'fpn_width',
                        'anchor_sizes', 'anchor_scales', 'anchor_ratios',
                        'box_head_width', 'mask_head_width',
                        'mask_head_convs', 'roi_pool_size', 'mask_pool_size')


def transfer_weights(source, target):
    """
    Start ``target`` from the weights of ``source``.

    The two models must share the architecture (every field of
    ``_ARCHITECTURE_FIELDS``); the number of classes and the settings
    that only steer training or detection (ROI sampling, proposal
    counts, thresholds, image size) may differ.  Every layer whose
    weights have the same shapes in both models is copied; the others
    (the class-specific outputs when ``n_classes`` changes) keep their
    fresh initialisation.

    Parameters
    ----------
    source, target : `~galseg.engine.MaskRCNN`
        The trained model and the model to train.

    Returns
    -------
    fresh : list of str
        The names (``part/layer``) of the layers not copied.

    Raises
    ------
    ValueError
        If the architectures differ.
    """
    differ = [name for name in _ARCHITECTURE_FIELDS
              if getattr(source.config, name) != getattr(target.config, name)]
    if differ:
        msg = ('init_model has another architecture than the model to '
               f'train ({", ".join(differ)} differ)')
        raise ValueError(msg)
    fresh = []
    for part in ('backbone', 'fpn', 'rpn_head', 'box_head', 'mask_head'):
        source_layers = {layer.name: layer
                         for layer in getattr(source, part).layers}
        for layer in getattr(target, part).layers:
            weights = layer.get_weights()
            if not weights:
                continue
            twin = source_layers.get(layer.name)
            copied = twin.get_weights() if twin is not None else []
            if [w.shape for w in copied] == [w.shape for w in weights]:
                layer.set_weights(copied)
            else:
                fresh.append(f'{part}/{layer.name}')
    return fresh


def _init_model_dir(init_model):
    """The model directory of ``init_model`` (a model or a run)."""
    init = Path(init_model)
    return init / 'model' if (init / 'model').is_dir() else init


def _versions(keras_version, tensorflow_version):
    """Versions of the libraries that made the model and its data."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {'tensorflow': tensorflow_version, 'keras': keras_version}
    for name in ('galsim', 'surveycodex', 'numpy', 'astropy', 'photutils'):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def _git_commit():
    """The commit of galseg's source checkout, with ``-dirty`` when it
    has uncommitted changes; `None` outside a git checkout."""
    import subprocess

    source = Path(__file__).resolve().parents[2]
    if not (source / '.git').exists():
        return None
    try:
        commit = subprocess.run(
            ['git', 'describe', '--always', '--dirty', '--abbrev=12'],
            cwd=source, capture_output=True, text=True, check=True,
            timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit or None


def _init_model_card(init_model):
    """The model card of the model a run started from (lineage), or
    `None` when it has none."""
    path = _init_model_dir(init_model) / 'model_card.json'
    return json.loads(path.read_text()) if path.is_file() else None


def _plain(value):
    value = np.asarray(value).item()
    return None if isinstance(value, float) and not math.isfinite(value) \
        else value


def _data_info(name, dataset):
    return {'role': name, 'path': str(Path(dataset.path).resolve()),
            'n_scenes': len(dataset), 'seed': dataset.seed,
            'dataset_id': dataset.manifest.get('dataset_id'),
            'config': dataset.manifest.get('config')}


#: simulation settings that the training pipeline reads from the training
#: data (noise model and footprints); several training datasets must agree
_PIPELINE_FIELDS = ('bands', 'source_noise', 'footprint_threshold',
                    'detection_bands')


class _CombinedScenes:
    """
    Several training datasets read as one: scene ``i`` of the first,
    then of the second, ...  ``config`` is the first dataset's, whose
    `_PIPELINE_FIELDS` every other dataset shares.
    """

    def __init__(self, datasets):
        self.datasets = list(datasets)
        self.config = self.datasets[0].config
        self._ends = np.cumsum([len(dataset) for dataset in self.datasets])

    def __len__(self):
        return int(self._ends[-1])

    def __getitem__(self, index):
        part = int(np.searchsorted(self._ends, index, side='right'))
        start = 0 if part == 0 else int(self._ends[part - 1])
        return self.datasets[part][index - start]


def _read_training_data(data):
    """The training dataset of ``data``, one directory or several;
    and the paths as the run records them."""
    from ..simulate import read_dataset

    if isinstance(data, (str, os.PathLike)):
        return read_dataset(data), str(Path(data).resolve())
    if (not isinstance(data, (list, tuple))
            or not all(isinstance(path, (str, os.PathLike))
                       for path in data)):
        msg = ('data must be a dataset directory or a list of them, got '
               f'{data!r}')
        raise TypeError(msg)
    paths = [str(Path(path).resolve()) for path in data]
    if not paths:
        msg = 'data lists no training dataset'
        raise ValueError(msg)
    if len(set(paths)) < len(paths):
        msg = f'data lists a training dataset twice: {paths}'
        raise ValueError(msg)
    datasets = [read_dataset(path) for path in data]
    first = datasets[0].config
    for path, dataset in zip(paths[1:], datasets[1:]):
        for name in _PIPELINE_FIELDS:
            if getattr(dataset.config, name) != getattr(first, name):
                msg = (f'the training datasets differ in {name}: '
                       f'{getattr(first, name)!r} in {paths[0]}, '
                       f'{getattr(dataset.config, name)!r} in {path}')
                raise ValueError(msg)
    if len(datasets) == 1:
        return datasets[0], paths[0]
    return _CombinedScenes(datasets), paths


def train(data, val, out, config=None, resume=False, overwrite=False,
          max_steps=None, progress=True, command=None):
    """
    Train (or resume training) a Mask R-CNN on simulated scenes.

    Parameters
    ----------
    data : str, `~pathlib.Path` or sequence of them
        The training dataset directory or directories, written by
        `galseg.simulate.simulate_dataset`.  Several are read as one
        (each pass over the data shuffles all their scenes together, so
        each contributes in proportion to its size); they must share
        the bands, ``source_noise``, ``footprint_threshold`` and
        ``detection_bands`` of their simulation configurations.
    val : str or `~pathlib.Path`
        The validation dataset directory.
    out : str or `~pathlib.Path`
        The run directory.
    config : `TrainingConfig`, optional
        How to train; the defaults otherwise.  A resumed run keeps the
        configuration it started with.
    resume : bool, optional
        Continue the run in ``out`` from its last checkpoint.
    overwrite : bool, optional
        Replace a run that exists in ``out``.
    max_steps : int, optional
        Stop (with a checkpoint) once this many steps are done in total;
        run again with ``resume=True`` to go on.
    progress : bool, optional
        Show a progress bar.
    command : str, optional
        The command line, for the model card.

    Returns
    -------
    run : `TrainingRun`

    Raises
    ------
    FileExistsError
        If ``out`` holds a run and neither ``resume`` nor ``overwrite``
        is set.
    ValueError
        If the data do not suit the model or the run.
    """
    from ..simulate import read_dataset

    if max_steps is not None:
        max_steps = check_int('max_steps', max_steps, minimum=1)
    if config is not None and not isinstance(config, TrainingConfig):
        msg = ('config must be a TrainingConfig, got '
               f'{type(config).__name__}')
        raise TypeError(msg)
    train_data, train_paths = _read_training_data(data)
    val_data = read_dataset(val)
    if list(train_data.config.bands) != list(val_data.config.bands):
        msg = (f'training bands {train_data.config.bands} differ from '
               f'validation bands {val_data.config.bands}')
        raise ValueError(msg)
    data_paths = {'train': train_paths, 'val': str(Path(val).resolve())}
    out = Path(out)
    config = _prepare_run(out, config, data_paths, resume, overwrite)
    model_config = config.model_config(len(train_data.config.bands))
    command = command or ' '.join(sys.argv)
    return _Trainer(out, config, model_config, train_data, val_data,
                    progress, command).run(max_steps)


class _Trainer:
    """The training loop of one session of a run."""

    def __init__(self, out, config, model_config, train_data, val_data,
                 progress, command):
        self.out = out
        self.config = config
        self.model_config = model_config
        self.train_data = train_data
        self.val_data = val_data
        self.progress = progress
        self.command = command
        self._test_step = None
        self.steps_per_epoch = math.ceil(len(train_data) / config.batch_size)
        self.bounds = _stage_bounds(config, self.steps_per_epoch)
        state_path = out / 'state.json'
        self.state = (json.loads(state_path.read_text())
                      if state_path.exists()
                      else {'step': 0, 'stage': 0, 'wall_time': 0.0,
                            'sessions': 0, 'finished': False})

    # --- setup -------------------------------------------------------------
    def _build(self):
        import keras
        import tensorflow as tf

        from ..engine import MaskRCNN, load_model

        keras.utils.set_random_seed(self.config.seed)
        if self.config.mixed_precision:
            keras.mixed_precision.set_global_policy('mixed_bfloat16')
        self.strategy = _make_strategy(self.config.strategy)
        with self.strategy.scope():
            self.model = MaskRCNN(self.model_config)
            if self.config.init_model and self.state['step'] == 0:
                init = _init_model_dir(self.config.init_model)
                fresh = transfer_weights(load_model(init), self.model)
                self.state['init_fresh_layers'] = fresh
            self.step_variable = tf.Variable(self.state['step'],
                                             dtype=tf.int64, trainable=False)
        self.writer = tf.summary.create_file_writer(str(self.out / 'logs'))

    def _checkpoint(self, optimizer):
        import tensorflow as tf

        checkpoint = tf.train.Checkpoint(model=self.model,
                                         optimizer=optimizer,
                                         step=self.step_variable)
        return tf.train.CheckpointManager(checkpoint,
                                          self.out / 'checkpoints',
                                          max_to_keep=2)

    def _save(self, manager, stage_index, started):
        self.state['step'] = int(self.step_variable.numpy())
        self.state['stage'] = stage_index
        self.state['wall_time'] += time.perf_counter() - started[0]
        started[0] = time.perf_counter()
        manager.save(checkpoint_number=self.state['step'])
        _write_json(self.out / 'state.json', self.state)
        # only once the state names the new best weights
        best = self._best_weights_path()
        for path in self.out.glob('best-*.weights.h5'):
            if path != best:
                path.unlink()

    def _best_weights_path(self):
        """The file of the best validation weights so far, or `None`."""
        step = self.state.get('best_step')
        if step is None:
            return None
        return self.out / f'best-{step}.weights.h5'

    # --- the loop ----------------------------------------------------------
    def run(self, max_steps):
        from tqdm.auto import tqdm

        from .pipeline import training_dataset, validation_dataset

        total = self.bounds[-1]
        if self.state['finished']:
            return TrainingRun(self.out, self.state['step'], total, True,
                               self.state['wall_time'])
        self._build()
        self.state['sessions'] += 1
        self.state.setdefault('commands', []).append(self.command)
        started = [time.perf_counter()]
        step = self.state['step']
        val_batches = validation_dataset(self.val_data, self.model_config,
                                         self.config.batch_size,
                                         self.config.val_scenes,
                                         self.config.exclusive_footprints,
                                         self.config.footprint_core)
        if step >= total:
            # trained but not finished: killed during the export or the
            # final evaluation; export the last checkpoint's weights
            self._restore_final()
        bar = tqdm(total=total, initial=step, disable=not self.progress,
                   desc='training', unit='step')
        stopped = False
        for stage_index, stage in enumerate(self.config.stages):
            first, last = self.bounds[stage_index], self.bounds[stage_index + 1]
            if step >= last:
                continue
            trainable = stage.trainable if self.config.init_model else 'all'
            with self.strategy.scope():
                self.model.set_trainable(trainable)
                optimizer = _make_optimizer(stage, self.config, last - first)
                self.model.compile(optimizer=optimizer)
                optimizer.build(self.model.trainable_variables)
            manager = self._checkpoint(optimizer)
            if manager.latest_checkpoint and step > 0:
                self._restore(manager, stage_index)
                step = int(self.step_variable.numpy())
            train_step = self._step_function()
            batches = training_dataset(
                self.train_data, self.model_config, self.config.batch_size,
                seed=self.config.seed, start_step=step,
                augment=self.config.augment,
                fresh_noise=self.config.fresh_noise,
                deep_fraction=self.config.deep_fraction,
                deep_noise_scale=self.config.deep_noise_scale,
                noiseless_fraction=self.config.noiseless_fraction,
                deep_exclusive=self.config.deep_exclusive,
                exclusive_footprints=self.config.exclusive_footprints,
                footprint_core=self.config.footprint_core)
            if self.config.strategy != 'default':
                batches = self.strategy.experimental_distribute_dataset(
                    batches)
            for batch in batches:
                logs = train_step(batch)
                step += 1
                self.step_variable.assign(step)
                bar.update(1)
                if step % self.config.log_every == 0 or step == last:
                    self._log(logs, optimizer, step)
                    bar.set_postfix(loss=f'{float(logs["loss"]):.3f}')
                end_of_epoch = step % self.steps_per_epoch == 0
                if end_of_epoch or step == last:
                    self._validate(val_batches, step)
                if (end_of_epoch or step == last
                        or step % self.config.checkpoint_every == 0):
                    self._save(manager, stage_index, started)
                if max_steps is not None and step >= max_steps \
                        and step < total:
                    self._save(manager, stage_index, started)
                    stopped = True
                if stopped or step >= last:
                    break
            if stopped:
                break
        bar.close()
        evaluation = None
        if not stopped:
            evaluation = self._export()
        return TrainingRun(self.out, self.state['step'], total,
                           self.state['finished'], self.state['wall_time'],
                           evaluation)

    def _restore(self, manager, stage_index):
        """Restore the last checkpoint; the optimizer state only if it
        belongs to this stage (a new stage starts a fresh optimizer)."""
        import tensorflow as tf

        if self.state['stage'] == stage_index:
            manager.checkpoint.restore(
                manager.latest_checkpoint).assert_existing_objects_matched()
        else:
            tf.train.Checkpoint(model=self.model,
                                step=self.step_variable).restore(
                manager.latest_checkpoint).expect_partial()

    def _restore_final(self):
        """Restore the model's weights from the last checkpoint."""
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(str(self.out / 'checkpoints'))
        if latest is None:
            msg = f'{self.out} holds no checkpoint to export'
            raise ValueError(msg)
        tf.train.Checkpoint(model=self.model, step=self.step_variable).restore(
            latest).expect_partial()

    def _step_function(self):
        import tensorflow as tf

        model = self.model
        strategy = self.strategy
        if self.config.strategy == 'default':
            return tf.function(model.train_step)

        @tf.function
        def distributed_step(batch):
            logs = strategy.run(model.train_step, args=(batch,))
            return {name: strategy.reduce('MEAN', value, axis=None)
                    for name, value in logs.items()}

        return distributed_step

    def _log(self, logs, optimizer, step):
        import tensorflow as tf

        with self.writer.as_default(step=step):
            for name, value in logs.items():
                tf.summary.scalar(f'train/{name}', value)
            tf.summary.scalar('train/learning_rate',
                              optimizer.learning_rate)
        for tracker in self.model.loss_trackers:
            tracker.reset_state()

    def _validate(self, val_batches, step):
        import tensorflow as tf

        for tracker in self.model.loss_trackers:
            tracker.reset_state()
        if self._test_step is None:
            self._test_step = tf.function(self.model.test_step)
        logs = {}
        for batch in val_batches:
            logs = self._test_step(batch)
        with self.writer.as_default(step=step):
            for name, value in logs.items():
                tf.summary.scalar(f'val/{name}', value)
        loss = float(logs['loss']) if logs else None
        self.state.setdefault('val_loss', {})[str(step)] = loss
        best = self.state.get('best_step')
        best_loss = (math.inf if best is None
                     else self.state['val_loss'][str(best)])
        if (self.config.restore_best_weights and loss is not None
                and math.isfinite(loss) and loss < best_loss):
            from ..engine.io import _weights_only

            path = self.out / f'best-{step}.weights.h5'
            tmp = path.with_name(f'.tmp-{path.name}')
            _weights_only(self.model).save_weights(tmp)
            tmp.replace(path)
            self.state['best_step'] = step
        for tracker in self.model.loss_trackers:
            tracker.reset_state()

    def _export(self):
        from ..engine import save_model
        from ..engine.io import WEIGHTS_FILE, file_sha256

        best = self._best_weights_path()
        if self.config.restore_best_weights and best is not None:
            from ..engine import MaskRCNN

            bare = MaskRCNN(self.model_config)
            bare.load_weights(best)
            self.model.set_weights(bare.get_weights())
            self.state['exported_step'] = self.state['best_step']
        else:
            self.state['exported_step'] = self.state['step']
        data_info = [_data_info('train', dataset) for dataset in
                     getattr(self.train_data, 'datasets', [self.train_data])]
        data_info.append(_data_info('validation', self.val_data))
        card = _model_card(self.out, self.config, self.model_config,
                           data_info, self.state, None)
        save_model(self.model, self.out / 'model', model_card=card,
                   overwrite=True)
        evaluation = None
        if self.config.eval_scenes:
            evaluation = self._evaluate()
            card = _model_card(self.out, self.config, self.model_config,
                               data_info, self.state, evaluation)
            weights = self.out / 'model' / WEIGHTS_FILE
            card.update(weights_file=WEIGHTS_FILE,
                        weights_sha256=file_sha256(weights))
            _write_json(self.out / 'model' / 'model_card.json', card)
        # only now: a run killed during the export or the evaluation is
        # not finished, and resuming it exports and evaluates again
        self.state['finished'] = True
        _write_json(self.out / 'state.json', self.state)
        return evaluation

    def _evaluate(self):
        from ..deblender import MaskRCNNDeblender
        from ..evaluation import default_methods, evaluate, write_evaluation

        deblender = MaskRCNNDeblender(model=self.model)
        result = evaluate(self.val_data, default_methods(deblender),
                          plots_dir=self.out / 'plots',
                          max_scenes=self.config.eval_scenes,
                          progress=self.progress, overwrite=True)
        write_evaluation(result, self.out / 'evaluation.ecsv',
                         overwrite=True)
        return result.table
