"""The ``galseg train`` subcommand."""

DESCRIPTION = ('Train a Mask R-CNN deblender on simulated scenes, with '
               'checkpoints, resume, TensorBoard logs, export and a final '
               'evaluation against photutils.')


def add_arguments(parser):
    parser.add_argument('--data', required=True, metavar='DIR', nargs='+',
                        help='training dataset (from galseg simulate); '
                             'several are read as one, each in proportion '
                             'to its size')
    parser.add_argument('--val', required=True, metavar='DIR',
                        help='validation dataset (from galseg simulate)')
    parser.add_argument('--out', required=True, metavar='RUN',
                        help='run directory: checkpoints, logs, model/')
    parser.add_argument('--config', metavar='FILE',
                        help='JSON or TOML file of TrainingConfig fields, '
                             'including "model" (MaskRCNNConfig fields); '
                             'the options below override it')
    parser.add_argument('--resume', action='store_true',
                        help='continue the run in --out from its last '
                             'checkpoint, with the configuration it '
                             'started with')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace a run that exists in --out')
    parser.add_argument('--batch-size', type=int, metavar='N',
                        help='images per step (default 8)')
    parser.add_argument('--stages', metavar='STAGES',
                        help='the schedule as comma-separated '
                             'trainable:epochs:learning_rate, e.g. '
                             '"heads:15:1e-3,all:20:5e-4" (the default, '
                             'from the study); "heads" stages freeze the '
                             'backbone only with --init-model')
    parser.add_argument('--optimizer', choices=('adamw', 'adam', 'sgd'),
                        help='optimizer (default adamw)')
    parser.add_argument('--lr-schedule', choices=('constant', 'cosine'),
                        help='learning rate after warm-up (default '
                             'constant)')
    parser.add_argument('--warmup-steps', type=int, metavar='N',
                        help='linear warm-up steps per stage (default 100)')
    parser.add_argument('--clipnorm', type=float, metavar='X',
                        help='global gradient-norm clipping, 0 for none '
                             '(default 5)')
    parser.add_argument('--fresh-noise', action='store_true', default=None,
                        help='draw a new noise realisation each time a '
                             'scene is used')
    parser.add_argument('--deep-fraction', type=float, metavar='X',
                        help='fraction of examples shown as in a much '
                             'deeper image (needs --fresh-noise; default 0)')
    parser.add_argument('--deep-exclusive', action='store_true', default=None,
                        help='give each pixel of a deep example\'s '
                             'footprints to the brightest source there')
    parser.add_argument('--exclusive-footprints', action='store_true',
                        default=None,
                        help='give each pixel of every example\'s '
                             'footprints to the brightest source there')
    parser.add_argument('--footprint-core', type=float, metavar='X',
                        help='with exclusive footprints, each source keeps '
                             'its footprint within X PSF FWHM of its '
                             'brightest pixel (default 0)')
    parser.add_argument('--no-augment', dest='augment', action='store_false',
                        default=None,
                        help='no random flips and rotations')
    parser.add_argument('--checkpoint-every', type=int, metavar='N',
                        help='steps between checkpoints (default 200)')
    parser.add_argument('--seed', type=int, help='random seed (default 0)')
    parser.add_argument('--eval-scenes', type=int, metavar='N',
                        help='validation scenes for the final evaluation '
                             'against photutils, 0 to skip (default 200)')
    parser.add_argument('--init-model', metavar='MODEL',
                        help='start from the weights of this model '
                             'directory or run')
    parser.add_argument('--strategy',
                        choices=('default', 'mirrored', 'multiworker'),
                        help='tf.distribute strategy: one device, all local '
                             'GPUs, or several machines (TF_CONFIG)')
    parser.add_argument('--mixed-precision', action='store_true',
                        default=None,
                        help='compute in bfloat16 (GPUs, CPUs with '
                             'AVX512-BF16 or AMX)')
    parser.add_argument('--restore-best-weights', action='store_true',
                        default=None,
                        help='export the weights of the epoch with the '
                             'lowest validation loss, not the last ones')
    parser.add_argument('--max-steps', type=int, metavar='N',
                        help='stop with a checkpoint after N steps in total '
                             '(continue later with --resume)')
    parser.add_argument('--quiet', action='store_true',
                        help='no progress bar')


#: TrainingConfig fields that options of the same name override
_OVERRIDES = ('batch_size', 'optimizer', 'lr_schedule', 'warmup_steps',
              'clipnorm', 'fresh_noise', 'deep_fraction', 'deep_exclusive',
              'exclusive_footprints', 'footprint_core', 'augment',
              'checkpoint_every', 'seed',
              'eval_scenes', 'init_model', 'strategy', 'mixed_precision',
              'restore_best_weights')


def training_config_from_args(args):
    """The `TrainingConfig` that the options describe, or `None` for the
    defaults (and for a resumed run that changes nothing)."""
    from .trainer import TrainingConfig, TrainingStage

    values = (TrainingConfig.from_file(args.config).to_dict()
              if args.config else {})
    for field in _OVERRIDES:
        value = getattr(args, field)
        if value is not None:
            values[field] = value
    if args.stages:
        values['stages'] = [TrainingStage.parse(text.strip())
                            for text in args.stages.split(',')]
    return TrainingConfig.from_dict(values) if values else None


def run(args):
    from .trainer import train

    config = training_config_from_args(args)
    result = train(args.data, args.val, args.out, config=config,
                   resume=args.resume, overwrite=args.overwrite,
                   max_steps=args.max_steps, progress=not args.quiet,
                   command=args.command_line)
    if result.finished:
        print(f'galseg train: done, {result.step} steps in '
              f'{result.wall_time:.0f} s; model in {result.model_directory}')
        if result.evaluation is not None:
            result.evaluation.pprint(max_width=-1, max_lines=-1)
    else:
        print(f'galseg train: stopped at step {result.step} of '
              f'{result.total_steps}; continue with --resume')
    return 0
