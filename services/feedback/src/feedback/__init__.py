"""Feedback service: Reports, dataset requests, surveys, showcases."""
