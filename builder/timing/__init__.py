"""Latency: the benchmark contract of every backend (``summary``), sampling under a time budget
and its noise facts (``sampling``), and two builds timed side by side (``latency_ab``).
"""
