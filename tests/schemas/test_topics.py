from schemas.topics import ALL_TOPICS, Topics, topic_names


def test_topic_names_are_unique_and_complete() -> None:
    names = topic_names()
    assert len(names) == len(set(names))
    declared = {v for k, v in vars(Topics).items() if k.isupper()}
    assert declared == set(names)


def test_state_like_topics_are_compacted() -> None:
    compacted = {t.name for t in ALL_TOPICS if "compact" in t.configs.get("cleanup.policy", "").split(",")}
    assert {Topics.DETECTOR_STATE, Topics.NOTIFICATION_LOG, Topics.ACKS}.issubset(compacted)
    assert Topics.OBSERVATIONS not in compacted
