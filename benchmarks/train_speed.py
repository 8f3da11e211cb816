"""
End-to-end training speed of `galseg train`'s step on this machine.

Times, in one run, training steps fed by the training pipeline itself
(`galseg.train.training_dataset`: reading scenes, fresh noise from the
simulator's noise model, augmentation, normalisation), for the network
of the sky-like recipe (``galseg/models/recipe/sky_training.json``) under
the training settings of

* ``old``: the settings of the first default model
  (``galseg/models/recipe/training.json``: batch 8, 64 ROIs per image,
  float32);
* ``new``: the sky-like recipe's (batch 16, 32 ROIs per image, its
  precision);
* ``new bfloat16``: the same with ``mixed_bfloat16`` (fast only on CPUs
  with AVX512-BF16 or AMX; emulated, and slow, elsewhere).

Prints images per second after ``--warmup`` untimed steps (tracing).
The data are ``--n`` scenes of the sky-like recipe simulated into a
temporary directory (seed 7, never used for training), or ``--data``.
Set ``TF_NUM_INTRAOP_THREADS``/``TF_NUM_INTEROP_THREADS`` in the
environment to time thread settings.

Run: ``python benchmarks/train_speed.py [--steps 30] [--warmup 5]``
"""

import argparse
import json
import os
import platform
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from galseg.models import RECIPE_DIR  # noqa: E402


def _cpu_flags():
    """The CPU's vector extensions that matter for bfloat16."""
    try:
        with open('/proc/cpuinfo') as handle:
            flags = set(handle.read().split())
    except OSError:
        return 'unknown'
    wanted = ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile')
    return ', '.join(flag for flag in wanted if flag in flags) or 'none'


def time_setting(data, model_dict, batch_size, mixed, steps, warmup):
    """Images per second of ``steps`` timed training steps."""
    import keras
    import tensorflow as tf

    from galseg.engine import MaskRCNN
    from galseg.engine.config import MaskRCNNConfig
    from galseg.train import training_dataset

    keras.mixed_precision.set_global_policy(
        'mixed_bfloat16' if mixed else 'float32')
    try:
        keras.utils.set_random_seed(0)
        config = MaskRCNNConfig.from_dict(
            {**model_dict, 'n_bands': len(data.config.bands)})
        model = MaskRCNN(config)
        optimizer = keras.optimizers.AdamW(1e-4, global_clipnorm=5.0)
        model.compile(optimizer=optimizer)
        optimizer.build(model.trainable_variables)
        step = tf.function(model.train_step)
        batches = iter(training_dataset(data, config, batch_size, seed=0,
                                        augment=True, fresh_noise=True))
        for _ in range(warmup):
            step(next(batches))
        start = time.perf_counter()
        for _ in range(steps):
            step(next(batches))
        return steps * batch_size / (time.perf_counter() - start)
    finally:
        keras.mixed_precision.set_global_policy('float32')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data', help='a simulated dataset (default: '
                        'simulate --n scenes of the sky-like recipe)')
    parser.add_argument('--n', type=int, default=128)
    parser.add_argument('--steps', type=int, default=30)
    parser.add_argument('--warmup', type=int, default=5)
    args = parser.parse_args()

    from galseg.simulate import (SimulationConfig, read_dataset,
                                 simulate_dataset)

    old = json.loads((RECIPE_DIR / 'training.json').read_text())
    new = json.loads((RECIPE_DIR / 'sky_training.json').read_text())
    settings = {
        'old': (dict(new['model'],
                     rois_per_image=old['model'].get('rois_per_image', 64)),
                old['batch_size'], old.get('mixed_precision', False)),
        'new': (new['model'], new['batch_size'],
                new.get('mixed_precision', False)),
        'new bfloat16': (new['model'], new['batch_size'], True),
    }
    print(f'CPU: {platform.processor() or platform.machine()}, '
          f'{os.cpu_count()} cores, flags: {_cpu_flags()}; threads: '
          f'intra {os.environ.get("TF_NUM_INTRAOP_THREADS", "default")}, '
          f'inter {os.environ.get("TF_NUM_INTEROP_THREADS", "default")}')
    with tempfile.TemporaryDirectory() as directory:
        if args.data:
            data = read_dataset(args.data)
        else:
            config = SimulationConfig.from_file(RECIPE_DIR
                                                / 'sky_simulation.json')
            data = simulate_dataset(config, args.n, seed=7,
                                    out_dir=directory)
        print('| settings | batch | ROIs/image | precision | images/s |')
        print('|---|---|---|---|---|')
        with data:
            for name, (model_dict, batch, mixed) in settings.items():
                rate = time_setting(data, model_dict, batch, mixed,
                                    args.steps, args.warmup)
                print(f'| {name} | {batch} | '
                      f'{model_dict.get("rois_per_image", 64)} | '
                      f'{"bfloat16" if mixed else "float32"} | '
                      f'{rate:.1f} |', flush=True)


if __name__ == '__main__':
    main()
