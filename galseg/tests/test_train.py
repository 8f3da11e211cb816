import json
import os
from pathlib import Path

import pytest

from galseg.cli import build_parser, main
from galseg.train import TrainingConfig, TrainingStage, train

TINY_MODEL = dict(image_size=64, backbone_width=8, fpn_width=16,
                  box_head_width=32, mask_head_width=16,
                  pre_nms_proposals_train=200, post_nms_proposals_train=48,
                  rois_per_image=24, pre_nms_proposals_test=100,
                  post_nms_proposals_test=30, max_instances=6)


def _tiny_config(**changes):
    values = dict(model=TINY_MODEL, batch_size=4, warmup_steps=2,
                  checkpoint_every=2, val_scenes=4, eval_scenes=4,
                  stages=[TrainingStage('heads', 1, 2e-3),
                          TrainingStage('all', 1, 1e-3)])
    values.update(changes)
    return TrainingConfig(**values)


@pytest.fixture(scope='module')
def finished_run(simulated_datasets, tmp_path_factory):
    """Train, stop after 3 steps, resume to the end; keep both results."""
    out = tmp_path_factory.mktemp('runs') / 'run'
    config = _tiny_config()
    first = train(simulated_datasets['train'], simulated_datasets['val'],
                  out, config, max_steps=3, progress=False,
                  command='first session')
    state_after_first = json.loads((out / 'state.json').read_text())
    second = train(simulated_datasets['train'], simulated_datasets['val'],
                   out, resume=True, progress=False,
                   command='second session')
    return {'out': out, 'first': first, 'second': second,
            'state_after_first': state_after_first}


def test_interrupted_run_resumes(finished_run):
    first, second = finished_run['first'], finished_run['second']
    # 24 scenes in batches of 4: 6 steps per epoch, 2 stages of 1 epoch
    assert first.total_steps == second.total_steps == 12
    assert not first.finished and first.step == 3
    assert finished_run['state_after_first']['step'] == 3
    assert second.finished and second.step == 12
    state = json.loads((finished_run['out'] / 'state.json').read_text())
    assert state['sessions'] == 2
    assert state['commands'] == ['first session', 'second session']
    checkpoints = sorted(p.name for p in
                         (finished_run['out'] / 'checkpoints').glob(
                             'ckpt-*.index'))
    assert checkpoints[-1] == 'ckpt-12.index'
    assert (finished_run['out'] / 'logs').is_dir()


def test_export_and_model_card(finished_run):
    from galseg.engine import load_model

    model_dir = finished_run['second'].model_directory
    model = load_model(model_dir)
    assert model.config.image_size == 64
    card = json.loads((model_dir / 'model_card.json').read_text())
    assert card['steps'] == 12
    assert card['images_seen'] == 48
    assert card['commands'] == ['first session', 'second session']
    assert card['data'][0]['n_scenes'] == 24
    assert card['data'][0]['seed'] == 11
    assert card['wall_time_s'] > 0
    assert set(card['evaluation']['methods']) >= {'galseg', 'photutils'}
    # portable and verifiable: relative paths, the weights' checksum and
    # the versions of what made the model and its data
    import os

    from galseg.engine.io import file_sha256

    assert not os.path.isabs(card['data'][0]['path'])
    assert card['weights_sha256'] == file_sha256(model_dir
                                                 / 'model.weights.h5')
    for name in ('tensorflow', 'keras', 'galsim', 'surveycodex'):
        assert card['versions'][name]


def test_final_evaluation_table(finished_run):
    table = finished_run['second'].evaluation
    assert list(table['method'][:2]) == ['galseg', 'photutils']
    assert all(table['n_images'] == 4)
    assert (finished_run['out'] / 'evaluation.ecsv').is_file()
    assert (finished_run['out'] / 'plots' / 'gallery.png').is_file()


def test_finished_run_resumes_to_nothing(finished_run, simulated_datasets):
    again = train(simulated_datasets['train'], simulated_datasets['val'],
                  finished_run['out'], resume=True, progress=False)
    assert again.finished and again.step == 12


def test_existing_run_is_kept(finished_run, simulated_datasets):
    with pytest.raises(FileExistsError, match='already holds a training run'):
        train(simulated_datasets['train'], simulated_datasets['val'],
              finished_run['out'], _tiny_config(), progress=False)


def test_resume_nothing(simulated_datasets, tmp_path):
    with pytest.raises(FileNotFoundError, match='holds no training run'):
        train(simulated_datasets['train'], simulated_datasets['val'],
              tmp_path, resume=True)


def test_resume_with_another_config(finished_run, simulated_datasets):
    with pytest.raises(ValueError, match='another training configuration'):
        train(simulated_datasets['train'], simulated_datasets['val'],
              finished_run['out'], _tiny_config(batch_size=2), resume=True)


@pytest.mark.parametrize('changes, error, match', [
    ({'batch_size': 0}, ValueError, 'batch_size must be an integer >= 1'),
    ({'optimizer': 'lbfgs'}, ValueError, 'optimizer must be one of'),
    ({'strategy': 'tpu'}, ValueError, 'strategy must be one of'),
    ({'stages': []}, ValueError, 'at least one stage'),
    ({'stages': [{'trainable': 'rpn', 'epochs': 1,
                  'learning_rate': 1e-3}]}, ValueError,
     'stage trainable must be one of heads, all'),
    ({'model': 'resnet18'}, TypeError, 'model must be a dict'),
    ({'clipnorm': -1.0}, ValueError, 'clipnorm must be a non-negative'),
    ({'restore_best_weights': 'yes'}, TypeError,
     'restore_best_weights must be True or False'),
    ({'deep_fraction': 0.2}, ValueError, 'deep_fraction > 0 needs fresh_noise'),
    ({'deep_fraction': 1.5, 'fresh_noise': True}, ValueError,
     r'deep_fraction must be in \[0, 1\]'),
    ({'deep_exclusive': 1}, TypeError, 'deep_exclusive must be True or False'),
    ({'exclusive_footprints': 'no'}, TypeError,
     'exclusive_footprints must be True or False'),
    ({'noiseless_fraction': 0.5}, ValueError,
     'noiseless_fraction > 0 needs deep_fraction > 0'),
    ({'noiseless_fraction': -0.5, 'deep_fraction': 0.2, 'fresh_noise': True},
     ValueError, r'noiseless_fraction must be in \[0, 1\]'),
    ({'deep_noise_scale': (0.0, 1.0)}, ValueError,
     'deep_noise_scale: impossible range'),
    ({'footprint_core': -0.5, 'exclusive_footprints': True}, ValueError,
     'footprint_core must be'),
    ({'footprint_core': 'wide', 'exclusive_footprints': True}, TypeError,
     'footprint_core must be a number'),
    ({'footprint_core': 0.5}, ValueError,
     'footprint_core > 0 needs exclusive_footprints or deep_exclusive'),
])
def test_bad_training_config(changes, error, match):
    with pytest.raises(error, match=match):
        _tiny_config(**changes)


def test_training_config_round_trip(tmp_path):
    config = _tiny_config()
    path = tmp_path / 'config.json'
    path.write_text(json.dumps(config.to_dict()))
    assert TrainingConfig.from_file(path) == config
    with pytest.raises(ValueError, match='unknown TrainingConfig fields'):
        TrainingConfig.from_dict({'epochs': 3})


def test_stage_parse():
    assert TrainingStage.parse('all:20:5e-4') == TrainingStage('all', 20.0,
                                                               5e-4)
    with pytest.raises(ValueError, match='trainable:epochs:learning_rate'):
        TrainingStage.parse('all:20')
    with pytest.raises(ValueError, match='cannot read the numbers'):
        TrainingStage.parse('all:many:5e-4')


def _subparser(name):
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == 'command')
    return action.choices[name]


@pytest.mark.parametrize('name', ['train', 'evaluate'])
def test_help_documents_every_option(name):
    sub = _subparser(name)
    text = sub.format_help()
    for action in sub._actions:
        for option in action.option_strings:
            assert option in text
        if action.option_strings and action.dest != 'help':
            assert action.help, f'{action.option_strings} has no help'


def test_cli_evaluate(finished_run, simulated_datasets, tmp_path, capsys):
    table = tmp_path / 'table.ecsv'
    status = main(['evaluate', '--model', str(finished_run['out']),
                   '--data', str(simulated_datasets['val']),
                   '--compare', 'photutils', '--max-scenes', '3',
                   '--table', str(table), '--quiet'])
    assert status == 0
    from astropy.table import Table

    result = Table.read(table)
    assert list(result['method']) == ['galseg', 'photutils']
    assert 'AP50' in capsys.readouterr().out
    # the table is not overwritten without --overwrite
    assert main(['evaluate', '--model', str(finished_run['out']),
                 '--data', str(simulated_datasets['val']),
                 '--compare', 'none', '--table', str(table)]) == 1
    assert 'already exists' in capsys.readouterr().err


def test_cli_evaluate_unknown_baseline(simulated_datasets, capsys):
    assert main(['evaluate', '--data', str(simulated_datasets['val']),
                 '--compare', 'sextractor']) == 1
    assert 'unknown methods' in capsys.readouterr().err


def test_cli_train_stops_and_resumes(simulated_datasets, tmp_path, capsys):
    config = tmp_path / 'config.json'
    config.write_text(json.dumps(_tiny_config(eval_scenes=0).to_dict()))
    args = ['train', '--data', str(simulated_datasets['train']), '--val',
            str(simulated_datasets['val']), '--out', str(tmp_path / 'run'),
            '--config', str(config), '--quiet']
    assert main([*args, '--max-steps', '2']) == 0
    assert 'stopped at step 2 of 12' in capsys.readouterr().out
    assert main(args) == 1
    assert 'already holds a training run' in capsys.readouterr().err


def test_run_killed_during_evaluation_resumes_to_a_model(
        simulated_datasets, tmp_path, monkeypatch):
    """A run that dies in its final evaluation is not finished: resuming
    exports the last checkpoint's weights again and evaluates."""
    import numpy as np

    from galseg.engine import load_model
    from galseg.train import trainer as trainer_module

    def killed(self):
        raise KeyboardInterrupt('killed during the evaluation')

    monkeypatch.setattr(trainer_module._Trainer, '_evaluate', killed)
    config = _tiny_config(stages=[TrainingStage('all', 1, 1e-3)])
    out = tmp_path / 'run'
    with pytest.raises(KeyboardInterrupt):
        train(simulated_datasets['train'], simulated_datasets['val'], out,
              config, progress=False)
    state = json.loads((out / 'state.json').read_text())
    assert state['step'] == 6 and not state['finished']
    exported = load_model(out / 'model').get_weights()
    monkeypatch.undo()
    run = train(simulated_datasets['train'], simulated_datasets['val'], out,
                resume=True, progress=False)
    assert run.finished and run.step == 6
    assert run.evaluation is not None
    for before, after in zip(exported,
                             load_model(out / 'model').get_weights()):
        np.testing.assert_array_equal(before, after)
    assert json.loads((out / 'state.json').read_text())['finished']


def test_run_killed_during_export_resumes_to_a_model(
        simulated_datasets, tmp_path, monkeypatch):
    """A run that dies while writing its model (the weights file half
    written) is not finished: resuming writes the model and evaluates."""
    import galseg.engine

    def killed(model, directory, model_card=None, overwrite=False):
        directory.mkdir(parents=True, exist_ok=True)
        (directory / 'model.weights.h5').write_bytes(b'')
        raise KeyboardInterrupt('killed during the export')

    monkeypatch.setattr(galseg.engine, 'save_model', killed)
    config = _tiny_config(stages=[TrainingStage('all', 1, 1e-3)])
    out = tmp_path / 'run'
    with pytest.raises(KeyboardInterrupt):
        train(simulated_datasets['train'], simulated_datasets['val'], out,
              config, progress=False)
    assert not json.loads((out / 'state.json').read_text())['finished']
    monkeypatch.undo()
    run = train(simulated_datasets['train'], simulated_datasets['val'], out,
                resume=True, progress=False)
    assert run.finished and run.step == 6 and run.evaluation is not None
    from galseg.engine import load_model

    assert load_model(out / 'model').config.image_size == 64
    card = json.loads((out / 'model' / 'model_card.json').read_text())
    assert card['weights_sha256']


def test_transfer_weights_to_more_classes():
    """A model with stars as a second class starts from a one-class
    model: everything but the class-specific outputs is copied."""
    import numpy as np

    from galseg.engine import MaskRCNN
    from galseg.train import transfer_weights

    galaxies = MaskRCNN(dict(TINY_MODEL, n_classes=1))
    both = MaskRCNN(dict(TINY_MODEL, n_classes=2, rois_per_image=16))
    fresh = transfer_weights(galaxies, both)
    assert fresh == ['box_head/class_logits', 'mask_head/mask_logits']
    for part in ('backbone', 'fpn', 'rpn_head'):
        for before, after in zip(getattr(galaxies, part).get_weights(),
                                 getattr(both, part).get_weights()):
            np.testing.assert_array_equal(before, after)
    assert both.box_head.get_layer('class_logits').get_weights()[0].shape[-1] \
        == 3
    wider = MaskRCNN(dict(TINY_MODEL, fpn_width=8))
    with pytest.raises(ValueError, match='another architecture .*fpn_width'):
        transfer_weights(galaxies, wider)


def test_init_model_heads_stage(finished_run, simulated_datasets, tmp_path):
    """A run from a trained model: a 'heads' stage freezes the backbone,
    and the model card keeps the card of the model it started from."""
    import numpy as np

    from galseg.engine import load_model

    parent_dir = finished_run['second'].model_directory
    parent = load_model(parent_dir)
    config = _tiny_config(stages=[TrainingStage('heads', 1, 1e-3)],
                          init_model=str(finished_run['out']),
                          eval_scenes=0)
    run = train(simulated_datasets['train'], simulated_datasets['val'],
                tmp_path / 'child', config, progress=False,
                command='fine-tune')
    assert run.finished and run.step == 6
    child = load_model(run.model_directory)
    for before, after in zip(parent.backbone.get_weights(),
                             child.backbone.get_weights()):
        np.testing.assert_array_equal(before, after)
    changed = [not np.array_equal(before, after) for before, after in zip(
        parent.mask_head.get_weights(), child.mask_head.get_weights())]
    assert any(changed)
    card = json.loads((run.model_directory / 'model_card.json').read_text())
    # recorded relative to the directory the command ran in
    init_model = card['training']['init_model']
    assert not os.path.isabs(init_model)
    assert Path(init_model).resolve() == finished_run['out'].resolve()
    parent_card = json.loads((parent_dir / 'model_card.json').read_text())
    assert card['init_model_card'] == parent_card
    assert card['commands'] == ['fine-tune']


def test_restore_best_weights_exports_the_best_epoch(simulated_datasets,
                                                     tmp_path):
    """With restore_best_weights, the model exported is the one saved at
    the epoch of lowest validation loss, and the card says which."""
    import numpy as np

    from galseg.engine import MaskRCNN, load_model

    # a learning rate high enough that the last epoch need not be best
    config = _tiny_config(stages=[TrainingStage('all', 3, 1e-2)],
                          eval_scenes=0, restore_best_weights=True)
    out = tmp_path / 'run'
    run = train(simulated_datasets['train'], simulated_datasets['val'], out,
                config, progress=False)
    assert run.finished
    state = json.loads((out / 'state.json').read_text())
    losses = {int(step): loss for step, loss in state['val_loss'].items()}
    assert sorted(losses) == [6, 12, 18]
    best = min(losses, key=losses.get)
    assert state['best_step'] == best
    # only the best epoch's weights are kept
    assert [p.name for p in out.glob('best-*.weights.h5')] == [
        f'best-{best}.weights.h5']
    saved = MaskRCNN(config.model_config(1))
    saved.load_weights(out / f'best-{best}.weights.h5')
    for expected, exported in zip(saved.get_weights(),
                                  load_model(out / 'model').get_weights()):
        np.testing.assert_array_equal(expected, exported)
    card = json.loads((out / 'model' / 'model_card.json').read_text())
    assert card['exported_step'] == best
    assert card['validation_loss'] == state['val_loss']
    assert card['training']['restore_best_weights'] is True


def test_last_weights_exported_by_default(finished_run):
    card = json.loads((finished_run['out'] / 'model' /
                       'model_card.json').read_text())
    assert card['exported_step'] == card['steps'] == 12
    assert not list(finished_run['out'].glob('best-*.weights.h5'))


def test_cli_restore_best_weights_overrides_the_config(tmp_path):
    from galseg.train.cli_train import training_config_from_args

    config = tmp_path / 'config.json'
    config.write_text(json.dumps(_tiny_config().to_dict()))
    args = build_parser().parse_args(
        ['train', '--data', 'd', '--val', 'v', '--out', 'o', '--config',
         str(config), '--restore-best-weights'])
    assert training_config_from_args(args).restore_best_weights is True
    args = build_parser().parse_args(
        ['train', '--data', 'd', '--val', 'v', '--out', 'o', '--config',
         str(config)])
    assert training_config_from_args(args).restore_best_weights is False


def test_cli_deep_fraction(tmp_path):
    from galseg.train.cli_train import training_config_from_args

    config = tmp_path / 'config.json'
    config.write_text(json.dumps(_tiny_config().to_dict()))
    args = build_parser().parse_args(
        ['train', '--data', 'd', '--val', 'v', '--out', 'o', '--config',
         str(config), '--fresh-noise', '--deep-fraction', '0.2',
         '--deep-exclusive', '--exclusive-footprints', '--footprint-core',
         '0.5'])
    config = training_config_from_args(args)
    assert (config.deep_fraction, config.deep_noise_scale,
            config.deep_exclusive, config.exclusive_footprints,
            config.footprint_core) == (0.2, (1e-4, 1.0), True, True, 0.5)


def test_several_training_datasets(simulated_datasets, tmp_path, capsys):
    from galseg.simulate import (SimulationConfig, read_dataset,
                                 simulate_dataset)
    from galseg.train.trainer import _read_training_data

    first = read_dataset(simulated_datasets['train'])
    crowded = simulate_dataset(
        SimulationConfig.from_dict({**first.config.to_dict(),
                                    'n_sources': [4, 6]}),
        8, seed=13, out_dir=tmp_path / 'crowded')
    # scene i of the first dataset, then those of the second
    both, paths = _read_training_data([first.path, crowded.path])
    assert len(both) == 32
    assert paths == [str(Path(first.path).resolve()),
                     str(Path(crowded.path).resolve())]
    for index, expected in ((0, first[0]), (23, first[23]),
                            (24, crowded[0]), (31, crowded[7])):
        assert (both[index].image == expected.image).all()

    config = tmp_path / 'config.json'
    config.write_text(json.dumps(_tiny_config(
        eval_scenes=0, stages=[TrainingStage('all', 1, 1e-3)]).to_dict()))
    args = ['train', '--data', str(first.path), str(crowded.path), '--val',
            str(simulated_datasets['val']), '--out', str(tmp_path / 'run'),
            '--config', str(config), '--quiet']
    assert main(args) == 0
    assert '8 steps' in capsys.readouterr().out  # 32 scenes, batches of 4
    card = json.loads((tmp_path / 'run' / 'model' /
                       'model_card.json').read_text())
    assert [(entry['role'], entry['n_scenes'], entry['seed'])
            for entry in card['data']] == [('train', 24, 11),
                                           ('train', 8, 13),
                                           ('validation', 8, 12)]
    # a run resumes only on the same datasets
    with pytest.raises(ValueError, match='was trained on'):
        train([crowded.path, first.path], simulated_datasets['val'],
              tmp_path / 'run', resume=True, progress=False)


def test_several_training_datasets_must_share_the_noise_model(
        simulated_datasets, tmp_path):
    from galseg.simulate import (SimulationConfig, read_dataset,
                                 simulate_dataset)

    first = read_dataset(simulated_datasets['train'])
    noiseless_sources = simulate_dataset(
        SimulationConfig.from_dict({**first.config.to_dict(),
                                    'source_noise': False}),
        4, seed=14, out_dir=tmp_path / 'other')
    with pytest.raises(ValueError, match='differ in source_noise'):
        train([first.path, noiseless_sources.path],
              simulated_datasets['val'], tmp_path / 'run', progress=False)
    with pytest.raises(ValueError, match='twice'):
        train([first.path, first.path], simulated_datasets['val'],
              tmp_path / 'run', progress=False)
    with pytest.raises(ValueError, match='no training dataset'):
        train([], simulated_datasets['val'], tmp_path / 'run',
              progress=False)
    with pytest.raises(TypeError, match='data must be a dataset directory'):
        train(3, simulated_datasets['val'], tmp_path / 'run', progress=False)
