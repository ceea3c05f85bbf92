-- Description: A label fixed
UPDATE units SET label = 'kilogram' WHERE code = 'kg';
