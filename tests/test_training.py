"""Training by the NumPy reference interpreter through the closed
training-step diagram (LAWS.md §6 is in test_learners.py)."""
import numpy as np
from sklearn.linear_model import LogisticRegression

import catlearn
from catlearn.backends.numpy.train import fit
from catlearn.data import load

SEEDS = range(5)


def test_iris_logistic_regression_reaches_95_percent_held_out():
    learner = catlearn.load("models/iris_logistic.cat").learners["iris"]
    ours, reference = [], []
    for seed in SEEDS:  # five stratified splits: one 30-flower split is too noisy to judge by
        data = load("iris", learner.settings["split"], seed)
        _, history = fit(learner, data, seed=seed)
        ours.append(history.accuracy[-1])
        reference.append(LogisticRegression(max_iter=2000).fit(data.x_train, data.y_train)
                         .score(data.x_val, data.y_val))
    assert np.mean(ours) >= 0.95, ours
    assert np.mean(ours) >= np.mean(reference) - 0.02, (ours, reference)


def test_digits_mlp_reaches_95_percent_held_out():
    learner = catlearn.load("models/digits_mlp.cat").learners["digits"]
    data = load("digits", learner.settings["split"], learner.settings["seed"])
    _, history = fit(learner, data)
    assert history.accuracy[-1] >= 0.95, history.accuracy
    assert history.loss[-1] < history.loss[0] / 5


def test_training_is_reproducible():
    learner = catlearn.load("models/iris_logistic.cat").learners["iris"]
    data = load("iris", 0.2, 1)
    a, _ = fit(learner, data, epochs=3, seed=7)
    b, _ = fit(learner, data, epochs=3, seed=7)
    c, _ = fit(learner, data, epochs=3, seed=8)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)


def test_lens_and_optic_training_give_the_same_parameters_as_the_closed_step():
    import dataclasses

    learner = catlearn.load("models/digits_mlp.cat").learners["digits"]
    data = load("digits", 0.2, 0)
    runs = {}
    for strategy in ("lens", "optic"):
        chosen = dataclasses.replace(learner, settings={**learner.settings, "strategy": strategy})
        runs[strategy], _ = fit(chosen, data, epochs=2)
    from catlearn.backends.numpy import evaluate, init_params
    from catlearn.semantics.learner import training_step

    step = training_step(learner.diagram, "cross_entropy", learner.optimizer, learner.settings["batch"])
    params, state = init_params(learner.diagram, 0), step.initial_state()
    rng = np.random.default_rng(0)
    targets = data.targets(data.y_train, "cross_entropy")
    batch = learner.settings["batch"]
    for _ in range(2):  # the same shuffles as fit
        order = rng.permutation(len(data.x_train))
        for i in range(0, len(order) - batch + 1, batch):
            rows = order[i:i + batch]
            params, state, _ = step(params, state, data.x_train[rows], targets[rows], evaluate)
    for k in params:
        np.testing.assert_allclose(runs["lens"][k], runs["optic"][k], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(runs["lens"][k], params[k], rtol=1e-10, atol=1e-12)
