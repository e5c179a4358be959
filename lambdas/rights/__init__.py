"""Subject rights over the lake: forget (crypto-shredding, with a receipt), export, reveal."""
