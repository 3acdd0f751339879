"""Off-policy evaluation of slate policies, scored against the simulator's ground truth
(docs/design.md section 11).

    from drnsim.logs import collect_logs
    from drnsim.policies import EpsilonGreedyPolicy
    from drnsim.agents import make_agent
    import drnsim.ope as ope

    world = {"n_users": 2000}
    logs, cands = collect_logs(world, EpsilonGreedyPolicy(make_agent("popular"), 0.3),
                               days=1, seed=0, candidates=True)
    table = ope.estimate(logs, "linucb", candidates=cands, config=world)   # every estimator
    truth = ope.ground_truth("linucb", world, seed=0, days=1, train_logs=logs)

Estimators (`ESTIMATORS`, `drnsim.ope.estimators`): naive (the logged mean), dm, ips,
snips, iips, rips, pi (pseudo-inverse), dr (cascade doubly robust), dr_iips. Target
policies: `make_target`. Ground truth: `ground_truth`.
"""

from drnsim.ope.data import LoggedSlates
from drnsim.ope.estimators import ESTIMATORS, SlateFeedback, value_and_interval
from drnsim.ope.evaluate import (
    Diagnostics,
    estimate,
    evaluate,
    fit_reward_model,
    run_estimators,
    target_feedback,
)
from drnsim.ope.reward import ZooRewardModel
from drnsim.ope.targets import OraclePolicy, make_target, replay_logs
from drnsim.ope.truth import LONG_RUN_METRICS, ground_truth, serve_online, summarize_visits

__all__ = ["Diagnostics", "ESTIMATORS", "LONG_RUN_METRICS", "LoggedSlates", "OraclePolicy",
           "SlateFeedback", "ZooRewardModel", "estimate", "evaluate", "fit_reward_model",
           "ground_truth", "make_target", "replay_logs", "run_estimators", "serve_online",
           "summarize_visits", "target_feedback", "value_and_interval"]
