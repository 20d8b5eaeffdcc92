"""Alert intake: authenticate a delivery, parse its format, extract indicators, hand alerts to cases."""
